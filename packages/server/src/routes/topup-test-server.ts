import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '@p2pvps/protocol/client';
import { loadServerConfig } from '../config.ts';
import { startServer, type RunningServer } from '../services/server.ts';

/**
 * Test support for the payment rails: a real server (SQLite, gateway, API) on a temp data
 * dir and a free block of loopback ports, started with the rails' options, and restartable
 * on the same data dir and ports, as an operator would.
 */
export interface RailsServer {
  running: RunningServer;
  url: string;
  api: ApiClient;
  dataDir: string;
  /** Stops the server and starts it again on the same data dir, ports and options. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A block of ports in 31000-31899 whose first three are free right now. */
export async function freePortBlock(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const base = 31000 + randomInt(0, 90) * 10;
    const free = await Promise.all([base, base + 1, base + 2].map(portIsFree));
    if (!free.includes(false) || attempt > 20) return base;
  }
}

export async function startRailsServer(env: Record<string, string>, base?: number): Promise<RailsServer> {
  const port = base ?? (await freePortBlock());
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-rails-'));
  const config = loadServerConfig([], {
    P2PVPS_DATA_DIR: dataDir,
    P2PVPS_HTTP_PORT: String(port),
    P2PVPS_GATEWAY_PORT: String(port + 1),
    P2PVPS_HTTPS_PORT: String(port + 2),
    P2PVPS_SSH_PORT_RANGE: `${port + 3}-${port + 9}`,
    P2PVPS_LOG_LEVEL: 'silent',
    ...env,
  });
  let running: RunningServer;
  try {
    running = await startServer(config);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const server: RailsServer = {
    running,
    url: running.apiUrl,
    api: new ApiClient({ baseUrl: running.apiUrl }),
    dataDir,
    async restart() {
      await running.close();
      running = server.running = await startServer(config);
      // fetch's pool may still hold a connection to the old server and fails the first request on it
      // ("other side closed"), as a browser would once; spend that failure here, not in the test.
      await fetch(`${running.apiUrl}/api/v1/server`).catch(() => undefined);
    },
    async close() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

let renters = 0;

/** A renter signed up through the API, with no balance. */
export async function createRenter(server: RailsServer): Promise<{ id: string; email: string; token: string; api: ApiClient }> {
  const email = `renter${++renters}@example.org`;
  const session = await server.api.call('signup', { body: { email, password: 'correct horse battery' } });
  return { id: session.user.id, email, token: session.token, api: server.api.withToken(session.token) };
}

export async function waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
