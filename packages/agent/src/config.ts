import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { opt, OptionsError, parseOptions, type OptionValues } from '@p2pvps/protocol/options';
import { z } from 'zod';

/**
 * Every agent option, declared once. Values come from flags, then environment, then
 * device-config.json (keys are the option names), then the default.
 */
export const agentOptions = {
  serverUrl: { flag: 'server', env: 'P2PVPS_SERVER_URL', description: "The marketplace server's API URL.", schema: opt.url() },
  enrolmentToken: {
    flag: 'token',
    env: 'P2PVPS_ENROLMENT_TOKEN',
    description: 'One-time enrolment token from the owner (needed until the device is registered).',
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
      'bridge (sshd published on loopback) or host (sshd on a loopback port; for engines started with --bridge=none, as in tests).',
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
  cpus: {
    flag: 'cpus',
    env: 'P2PVPS_CONTAINER_CPUS',
    description: 'CPU limit of the renter container, in cores (e.g. 1.5).',
    schema: z.coerce.number().positive().max(1024),
    default: '1',
  },
  memoryMb: {
    flag: 'memory-mb',
    env: 'P2PVPS_CONTAINER_MEMORY_MB',
    description: 'Memory limit of the renter container, in MiB.',
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
  readyTimeoutMs: {
    flag: 'ready-timeout-ms',
    env: 'P2PVPS_READY_TIMEOUT_MS',
    description: "How long a new container's sshd may take to come up.",
    schema: opt.positiveInt(),
    default: '60000',
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
      else problems.push(`${path}: "${name}" must be a string or number`);
    }
    if (env[spec.env]) merged[spec.env] = env[spec.env];
  }
  for (const key of Object.keys(file)) if (!(key in agentOptions)) problems.push(`${path}: unknown key "${key}"`);
  try {
    const values = parseOptions(agentOptions, rest, merged);
    if (problems.length) throw new OptionsError(problems);
    return { ...values, configFile: path };
  } catch (err) {
    if (err instanceof OptionsError) {
      const all = [...err.problems, ...problems.filter((p) => !err.problems.includes(p))];
      if (!existsSync(path)) all.push(`(no config file at ${path}; write one with "p2pvps agent init --server URL --token TOKEN")`);
      throw new OptionsError(all);
    }
    throw err;
  }
}
