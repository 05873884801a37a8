import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError } from '../cli-error.ts';
import type { Env } from '../config.ts';

/**
 * `server`, `agent`, `agent init`: the long-running parts, loaded only when asked for so
 * the renter and owner commands work on machines (and builds) without them. They parse
 * their own options and own their `--help`.
 */

type Entry = (argv: string[], env: Env) => Promise<unknown>;

async function loadEntry(specifier: string, exportName: string, part: string): Promise<Entry> {
  let url: string | undefined;
  try {
    url = import.meta.resolve(specifier);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.startsWith('file:') && !existsSync(fileURLToPath(url)))) {
    throw new CliError('not_installed', `The ${part} is not part of this installation (${specifier} is missing).`);
  }
  const module = (await import(url)) as Record<string, unknown>;
  const entry = module[exportName];
  if (typeof entry !== 'function') {
    throw new CliError('not_installed', `${specifier} does not export ${exportName}; the ${part} and the CLI do not match.`);
  }
  return entry as Entry;
}

async function start(specifier: string, exportName: string, part: string, argv: string[], env: Env): Promise<number | void> {
  const entry = await loadEntry(specifier, exportName, part);
  const result = await entry(argv, env);
  return typeof result === 'number' ? result : undefined;
}

export const server = (argv: string[], env: Env) => start('@p2pvps/server/main', 'runServer', 'server', argv, env);
export const agent = (argv: string[], env: Env) => start('@p2pvps/agent/main', 'runAgent', 'agent', argv, env);
export const agentInit = (argv: string[], env: Env) => start('@p2pvps/agent/main', 'runAgentInit', 'agent', argv, env);
