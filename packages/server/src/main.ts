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
}
