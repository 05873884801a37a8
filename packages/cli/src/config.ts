import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Id } from '@p2pvps/protocol/schemas';
import { CliError, UsageError } from './cli-error.ts';

/**
 * The CLI's own config file: the server it last logged in to and the API token it got.
 * The token is a credential, so the file is 0600 in a 0700 directory.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export interface CliConfig {
  server?: string;
  token?: string;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** `--config`, then `P2PVPS_CLI_CONFIG`, then `$XDG_CONFIG_HOME/p2pvps/cli.json`, then `~/.config/p2pvps/cli.json`. */
export function configPath(flag: string | undefined, env: Env): string {
  if (flag) return flag;
  if (env.P2PVPS_CLI_CONFIG) return env.P2PVPS_CLI_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'p2pvps', 'cli.json');
}

export async function loadConfig(path: string): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError('config_unreadable', `Cannot read the config file ${path}: ${(err as Error).message}.`);
  }
  // An empty file (or --config /dev/null) is an empty config.
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new CliError('config_invalid', `The config file ${path} is not valid JSON; fix or delete it.`);
  }
  const problems: Record<string, string> = {};
  const config: CliConfig = {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CliError('config_invalid', `The config file ${path} must hold a JSON object; fix or delete it.`);
  }
  for (const key of ['server', 'token'] as const) {
    const value = (data as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value === 'string') config[key] = value;
    else problems[key] = 'must be a string';
  }
  if (Object.keys(problems).length > 0) {
    throw new CliError('config_invalid', `The config file ${path} has invalid entries; fix or delete it.`, 1, problems);
  }
  return config;
}

/** Writes the file atomically (temp file, then rename) so a crash never leaves half a token. */
export async function saveConfig(path: string, config: CliConfig): Promise<void> {
  const dir = dirname(path);
  // Only tighten a directory we create: --config may point into a shared one like /tmp.
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) await chmod(dir, 0o700);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/** Where per-rental SSH host keys are kept: beside the config file. */
export function knownHostsDir(path: string): string {
  return join(dirname(path), 'known_hosts.d');
}

/** The file holding one rental's container host key; its container's keys are new each time. */
export function knownHostsFile(configPath: string, rentalId: string): string {
  // The ID becomes a file name: make sure it cannot climb out of the directory.
  if (!Id.safeParse(rentalId).success) throw new UsageError(`"${rentalId}" is not a rental ID`, 'ssh');
  return join(knownHostsDir(configPath), rentalId);
}

export function normalizeServerUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** `--server`, then `P2PVPS_SERVER`, then the config file, then the local default. */
export function resolveServer(flag: string | undefined, env: Env, config: CliConfig): string {
  const raw = flag || env.P2PVPS_SERVER || config.server || DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError('invalid_server', `The server address "${raw}" is not a URL; give one like https://market.example.org.`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('invalid_server', `The server address "${raw}" must start with http:// or https://.`, 2);
  }
  return normalizeServerUrl(raw);
}

/**
 * `--token`, then `P2PVPS_TOKEN`, then the saved token — but the saved one only for the
 * server it was issued by, so pointing the CLI at another server never sends it there.
 */
export function resolveToken(flag: string | undefined, env: Env, config: CliConfig, server: string): string | undefined {
  if (flag) return flag;
  if (env.P2PVPS_TOKEN) return env.P2PVPS_TOKEN;
  if (config.token && config.server && normalizeServerUrl(config.server) === server) return config.token;
  return undefined;
}
