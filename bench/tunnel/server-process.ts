/**
 * The real p2pvps server (startServer: SQLite, tunnel gateway, API, front doors) in its
 * own process, configured from BENCH_SERVER_ENV (a JSON object of P2PVPS_* variables).
 * Sends `{ type: 'ready', apiUrl, gatewayPort }` over IPC; closes cleanly on SIGTERM or
 * when the bench goes away, so a --cpu-prof profile is written.
 */
import { loadServerConfig } from '@p2pvps/server/config';
import { startServer } from '@p2pvps/server/services/server';
import { answerLoopDelay } from './loop-delay.ts';

const config = loadServerConfig([], JSON.parse(process.env.BENCH_SERVER_ENV ?? '{}') as Record<string, string>);
const server = await startServer(config);
answerLoopDelay();
process.send?.({ type: 'ready', apiUrl: server.apiUrl, gatewayPort: server.gatewayPort });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const t0 = Date.now();
  await server.close();
  if (Date.now() - t0 > 1_000) console.error(`[bench server] closing took ${Date.now() - t0} ms`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());
