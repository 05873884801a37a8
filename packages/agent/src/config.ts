import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { opt, OptionsError, parseOptions, type OptionValues } from '@p2pvps/protocol/options';
import { z } from 'zod';
import { plainHttpProblem } from '@p2pvps/protocol/transport';
import { parseCidr } from './network/isolation.ts';
import { containerRuntimes } from './docker/container-runtime.ts';
import { tunnelCipherChoices } from './tunnel-cipher.ts';

/**
 * The renter's persistent storage. An image file is the default; a block device (a USB
 * drive, say) is erased after every rental, so the owner must say so: allowFormat.
 */
export const StorageConfig = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('image'),
      path: z.string().min(1).optional(),
      sizeMiB: z.number().int().min(16, 'must be at least 16 (MiB)').default(4096),
    })
    .strict(),
  z
    .object({
      kind: z.literal('block'),
      device: z.union([z.literal('auto'), z.string().regex(/^\/dev\//, 'must be "auto" or a path under /dev')]),
      allowFormat: z.boolean().default(false),
    })
    .strict(),
]);
export type StorageConfig = z.infer<typeof StorageConfig>;

/** An option whose value is a JSON object (an object in device-config.json, JSON text in the environment or a flag). */
function jsonOption<S extends z.ZodType>(schema: S) {
  return z.string().transform((text, ctx) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data as z.output<S>;
    // parseOptions shows one message per option: put every problem in it.
    const problems = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
    ctx.addIssue({ code: 'custom', message: problems.join('; ') });
    return z.NEVER;
  });
}

/**
 * Destinations a renter may reach although they are in a blocked range: a JSON array in
 * device-config.json (["192.168.1.20", "10.8.0.0/16"]), JSON or a comma-separated list in
 * the environment or a flag.
 */
const cidrList = z.string().transform((text, ctx) => {
  let items: unknown = text.trim() === '' ? [] : text.trim().startsWith('[') ? undefined : text.split(',');
  if (items === undefined) {
    try {
      items = JSON.parse(text);
    } catch {
      items = null;
    }
  }
  if (!Array.isArray(items) || items.some((i) => typeof i !== 'string')) {
    ctx.addIssue({ code: 'custom', message: 'must be a list of addresses or CIDR ranges, like ["192.168.1.20", "10.8.0.0/16"]' });
    return z.NEVER;
  }
  const bad = (items as string[]).filter((i) => !parseCidr(i));
  if (bad.length) {
    ctx.addIssue({ code: 'custom', message: `${bad.map((b) => JSON.stringify(b)).join(', ')}: not an IP address or CIDR range` });
    return z.NEVER;
  }
  return (items as string[]).map((i) => parseCidr(i)!.cidr);
});

const mbit = () => z.coerce.number({ error: 'is required' }).min(0, 'must be 0 (no cap) or more').max(100_000);

/** Options that device-config.json may give as JSON objects or arrays. */
const objectOptions = new Set(['storage', 'allowNetworks']);

/**
 * Every agent option, declared once. Values come from flags, then environment, then
 * device-config.json (keys are the option names), then the default.
 */
export const agentOptions = {
  serverUrl: { flag: 'server', env: 'P2PVPS_SERVER_URL', description: "The marketplace server's API URL.", schema: opt.url() },
  insecureHttp: {
    flag: 'insecure-http',
    env: 'P2PVPS_INSECURE_HTTP',
    description:
      "Allow a plain http:// server URL to another machine (a lab network of your own): the device key signs, but the enrolment token and renters' credentials travel unencrypted. Loopback URLs never need it.",
    schema: opt.bool(),
    default: 'false',
  },
  enrolmentToken: {
    flag: 'token',
    env: 'P2PVPS_ENROLMENT_TOKEN',
    description:
      'One-time enrolment token from the owner (needed until the device is registered): in device-config.json (p2pvps agent init --token-file) or the environment; the flag is refused, since ps shows it to every user.',
    schema: opt.string().optional(),
    secret: true,
  },
  dataDir: {
    flag: 'data-dir',
    env: 'P2PVPS_AGENT_DATA_DIR',
    description: "Where the device key and the agent's state live.",
    schema: opt.string(),
    default: '/var/lib/p2pvps-agent',
  },
  dockerSocket: {
    flag: 'docker-socket',
    env: 'P2PVPS_DOCKER_SOCKET',
    description: 'Docker Engine API socket.',
    schema: opt.string(),
    default: '/var/run/docker.sock',
  },
  image: {
    flag: 'image',
    env: 'P2PVPS_RENTER_IMAGE',
    description: 'Renter base image; built locally when missing.',
    schema: opt.string(),
    default: 'p2pvps/renter:latest',
  },
  containerNetwork: {
    flag: 'container-network',
    env: 'P2PVPS_CONTAINER_NETWORK',
    description:
      "bridge: the agent's own Docker network (bridge p2pvps0) with the renter's sshd published on loopback and the home network blocked; " +
      'host: the container shares the host network, sshd on a loopback port, NO network isolation (for engines started with --bridge=none, as in tests).',
    schema: opt.enum(['bridge', 'host']),
    default: 'bridge',
  },
  containerSshPort: {
    flag: 'container-ssh-port',
    env: 'P2PVPS_CONTAINER_SSH_PORT',
    description: "Loopback port where the renter container's sshd is reached.",
    schema: opt.port(),
    default: '22022',
  },
  containerHttpPort: {
    flag: 'container-http-port',
    env: 'P2PVPS_CONTAINER_HTTP_PORT',
    description: "Loopback port where the renter container's port 80 is reached (visitors of the device's web name).",
    schema: opt.port(),
    default: '22080',
  },
  containerHttpsPort: {
    flag: 'container-https-port',
    env: 'P2PVPS_CONTAINER_HTTPS_PORT',
    description: "Loopback port where the renter container's port 443 is reached (TLS passed through untouched).",
    schema: opt.port(),
    default: '22443',
  },
  runtime: {
    flag: 'runtime',
    env: 'P2PVPS_CONTAINER_RUNTIME',
    description:
      "OCI runtime of renter containers: runc (Docker's default) or runsc (gVisor: the renter's programs run on gVisor's own kernel, " +
      "so a bug in the device's kernel is much harder to reach, at some cost in speed). runsc must be registered with the Docker engine " +
      '(install-agent.sh --gvisor does it); the agent checks at start and says what is missing.',
    schema: opt.enum(containerRuntimes),
    default: 'runc',
  },
  cpus: {
    flag: 'cpus',
    env: 'P2PVPS_CONTAINER_CPUS',
    description:
      "CPU limit of the renter container, in cores (e.g. 1.5), when the server sends no offer with the rental (older servers); otherwise the owner's offer says.",
    schema: z.coerce.number().positive().max(1024),
    default: '1',
  },
  memoryMb: {
    flag: 'memory-mb',
    env: 'P2PVPS_CONTAINER_MEMORY_MB',
    description:
      "Memory limit of the renter container, in MiB, when the server sends no offer with the rental (older servers); otherwise the owner's offer says.",
    schema: opt.positiveInt(),
    default: '512',
  },
  pidsLimit: {
    flag: 'pids-limit',
    env: 'P2PVPS_CONTAINER_PIDS_LIMIT',
    description: 'Process limit of the renter container.',
    schema: opt.positiveInt(),
    default: '256',
  },
  allowNetworks: {
    flag: 'allow-networks',
    env: 'P2PVPS_ALLOW_NETWORKS',
    description:
      'Addresses or CIDR ranges in the blocked private, link-local and multicast ranges (or the home network) that renters may reach anyway, e.g. ["192.168.1.20"]. Empty by default.',
    schema: cidrList,
    default: '',
  },
  uploadMbit: {
    flag: 'upload-mbit',
    env: 'P2PVPS_UPLOAD_MBIT',
    description: 'Cap on what the renter container sends, in Mbit/s; 0 for none.',
    schema: mbit(),
    default: '0',
  },
  downloadMbit: {
    flag: 'download-mbit',
    env: 'P2PVPS_DOWNLOAD_MBIT',
    description: 'Cap on what the renter container receives, in Mbit/s; 0 for none.',
    schema: mbit(),
    default: '0',
  },
  readyTimeoutMs: {
    flag: 'ready-timeout-ms',
    env: 'P2PVPS_READY_TIMEOUT_MS',
    description: "How long a new container's sshd may take to come up.",
    schema: opt.positiveInt(),
    default: '60000',
  },
  prepareContainer: {
    flag: 'prepare-container',
    env: 'P2PVPS_PREPARE_CONTAINER',
    description:
      'Keep one renter container prepared while the device is idle and its storage freshly wiped (created, host key made, nothing listening), so a rental starts at once; false to start each rental from nothing.',
    schema: opt.bool(),
    default: 'true',
  },
  storage: {
    flag: 'storage',
    env: 'P2PVPS_STORAGE',
    description:
      "The renter's persistent storage, mounted as /home in the container (a JSON object in device-config.json, JSON text here): " +
      '{"kind":"image","sizeMiB":4096,"path":"…"} a fixed-size image file (path defaults to DATA_DIR/renter-storage.img), or ' +
      '{"kind":"block","device":"/dev/sdX" or "auto","allowFormat":true} a dedicated disk, erased after every rental.',
    schema: jsonOption(StorageConfig),
    default: '{"kind":"image"}',
  },
  wipe: {
    flag: 'wipe',
    env: 'P2PVPS_WIPE',
    description:
      'How the storage is wiped after each rental: discard (discard every block, then a fresh filesystem) or overwrite (zeros over every block first).',
    schema: opt.enum(['discard', 'overwrite']),
    default: 'discard',
  },
  tunnelCipher: {
    flag: 'tunnel-cipher',
    env: 'P2PVPS_TUNNEL_CIPHER',
    description:
      "The tunnel's cipher: auto (AES-GCM where /proc/cpuinfo shows AES instructions, e.g. a Raspberry Pi 5; chacha20-poly1305 where it does not, e.g. a Pi 4), " +
      'or aes128-gcm, aes256-gcm, chacha20-poly1305 to force one.',
    schema: opt.enum(tunnelCipherChoices),
    default: 'auto',
  },
  homeUnreachableS: {
    flag: 'home-unreachable-s',
    env: 'P2PVPS_HOME_UNREACHABLE_S',
    description:
      'Seconds the home server may be unreachable (tunnel down and not answering) before the tunnel moves to a backup peer it named; the rental keeps running.',
    schema: opt.positiveInt(),
    default: '30',
  },
  homeReturnS: {
    flag: 'home-return-s',
    env: 'P2PVPS_HOME_RETURN_S',
    description: 'Seconds the home server must answer again, without a miss, before the tunnel leaves the backup peer and returns home.',
    schema: opt.positiveInt(),
    default: '60',
  },
  logLevel: {
    flag: 'log-level',
    env: 'P2PVPS_LOG_LEVEL',
    description: 'error, warn, info or debug.',
    schema: opt.enum(['error', 'warn', 'info', 'debug']),
    default: 'info',
  },
};

export type AgentConfig = OptionValues<typeof agentOptions> & { configFile: string };

export const defaultConfigFile = '/etc/p2pvps/device-config.json';

/** Splits `--config PATH` off argv: it says where the other options' file is. */
function takeConfigPath(argv: readonly string[], env: Record<string, string | undefined>): { path: string; rest: string[] } {
  const rest: string[] = [];
  let path = env.P2PVPS_AGENT_CONFIG || defaultConfigFile;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config') path = argv[++i] ?? path;
    else if (a.startsWith('--config=')) path = a.slice('--config='.length);
    else rest.push(a);
  }
  return { path: resolve(path), rest };
}

export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new OptionsError([`${path} is not a JSON object; fix it or write a new one with "p2pvps agent init"`]);
}

export function loadAgentConfig(argv: readonly string[], env: Record<string, string | undefined>): AgentConfig {
  const { path, rest } = takeConfigPath(argv, env);
  const file = readConfigFile(path);
  const problems: string[] = [];
  const merged: Record<string, string | undefined> = {};
  for (const [name, spec] of Object.entries(agentOptions)) {
    const value = file[name];
    if (value !== undefined && value !== null) {
      if (['string', 'number', 'boolean'].includes(typeof value)) merged[spec.env] = String(value);
      else if (objectOptions.has(name) && typeof value === 'object') merged[spec.env] = JSON.stringify(value);
      else problems.push(`${path}: "${name}" must be a string or number`);
    }
    if (env[spec.env]) merged[spec.env] = env[spec.env];
  }
  for (const key of Object.keys(file)) if (!(key in agentOptions)) problems.push(`${path}: unknown key "${key}"`);
  if (rest.some((a) => a === '--token' || a.startsWith('--token=')))
    problems.push(
      '--token would show the enrolment token to every user of this machine (ps); put it in the config file with "p2pvps agent init --token-file FILE"',
    );
  try {
    const values = parseOptions(agentOptions, rest, merged);
    const insecure = plainHttpProblem(
      values.serverUrl,
      '--insecure-http (P2PVPS_INSECURE_HTTP=true, or "insecureHttp": true in the config file)',
    );
    if (insecure && !values.insecureHttp) problems.push(`serverUrl: ${insecure}`);
    if (problems.length) throw new OptionsError(problems);
    return { ...values, configFile: path };
  } catch (err) {
    if (err instanceof OptionsError) {
      const all = [...err.problems, ...problems.filter((p) => !err.problems.includes(p))];
      if (!existsSync(path)) all.push(`(no config file at ${path}; write one with "p2pvps agent init --server URL --token-file FILE")`);
      throw new OptionsError(all);
    }
    throw err;
  }
}
