import { ApiClient } from '@p2pvps/protocol/client';
import { CliError } from './cli-error.ts';
import type { CliConfig, Env } from './config.ts';
import { formatJson } from './format.ts';
import type { OutputStream } from './output-stream.ts';

export type { OutputStream };

/** What a command may touch. Injected so tests run commands in-process, capturing what the user sees. */

export interface InputStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: InputStream;
}

/** Everything `run` needs from the outside world. */
export interface RunEnvironment {
  env: Env;
  io: Io;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface Context {
  readonly env: Env;
  readonly io: Io;
  /** `--json`: print the API's reply for scripts instead of tables. */
  readonly json: boolean;
  readonly configPath: string;
  readonly config: CliConfig;
  readonly server: string;
  readonly token: string | undefined;
  now(): Date;
  sleep(ms: number): Promise<void>;
  /** A client that sends the token if there is one (public routes work without). */
  client(): ApiClient;
  /** A client for routes that need an account; fails early with a hint when logged out. */
  userClient(): ApiClient;
  /** The ISO 4217 code the server's prices are in (one `serverInfo` call, then remembered). */
  currency(): Promise<string>;
  out(text: string): void;
  /** Prints `value` as JSON when `--json` was given and returns true; else returns false. */
  printJson(value: unknown): boolean;
}

export function createContext(
  runEnv: RunEnvironment,
  settings: { json: boolean; configPath: string; config: CliConfig; server: string; token: string | undefined },
): Context {
  const client = (token: string | undefined) => new ApiClient({ baseUrl: settings.server, ...(token ? { token } : {}) });
  let currency: Promise<string> | undefined;
  return {
    env: runEnv.env,
    io: runEnv.io,
    ...settings,
    now: runEnv.now ?? (() => new Date()),
    sleep: runEnv.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    client: () => client(settings.token),
    userClient: () => {
      if (!settings.token) {
        throw new CliError('unauthenticated', `You are not logged in to ${settings.server}; run 'p2pvps login' (or set P2PVPS_TOKEN).`);
      }
      return client(settings.token);
    },
    currency: () =>
      (currency ??= client(undefined)
        .call('serverInfo')
        .then((info) => info.currency)),
    out: (text) => void runEnv.io.stdout.write(text),
    printJson(value) {
      if (!settings.json) return false;
      runEnv.io.stdout.write(formatJson(value));
      return true;
    },
  };
}
