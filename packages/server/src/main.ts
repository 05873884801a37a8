import { OptionsError, formatOptionsHelp } from '@p2pvps/protocol/options';
import { loadServerConfig, serverOptions } from './config.ts';
import { startServer } from './services/server.ts';

export const serverHelp = `Usage: p2pvps server [options]

Runs the marketplace: HTTP API, device tunnel gateway and background worker, on a
SQLite database in the data directory. Every option can also be set by its environment
variable.

Options:
${formatOptionsHelp(serverOptions)}`;

/** `p2pvps server`: start, then shut down gracefully on SIGINT/SIGTERM (hard exit after 10 s). */
export async function runServer(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(serverHelp);
    return;
  }
  let config;
  try {
    config = loadServerConfig(argv, env);
  } catch (err) {
    if (err instanceof OptionsError) {
      console.error(`p2pvps server: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const server = await startServer(config);
  const stop = (signal: string) => {
    console.error(`p2pvps server: ${signal} received, shutting down`);
    setTimeout(() => process.exit(1), 10_000).unref();
    server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  exitOnStrayErrors(() => server.close());
}

/**
 * API, gateway and front doors share this process: after an error nobody expected, its
 * state is unknown, so it says what happened and exits non-zero, and the service manager
 * restarts it (scripts/p2pvps-server.service). Billing is cumulative, so nothing is lost
 * or billed twice. It first tries to close the database cleanly, for at most 5 s.
 */
export function exitOnStrayErrors(close: () => Promise<void>): void {
  let exiting = false;
  const crash = (what: string, err: unknown) => {
    console.error(`p2pvps server: ${what}, exiting so that the service manager restarts the server:`, err);
    if (exiting) return;
    exiting = true;
    process.exitCode = 70; // EX_SOFTWARE
    setTimeout(() => process.exit(70), 5_000).unref();
    close().then(
      () => process.exit(70),
      () => process.exit(70),
    );
  };
  process.on('unhandledRejection', (err) => crash('unhandled promise rejection', err));
  process.on('uncaughtException', (err) => crash('uncaught exception', err));
}
