import { ApiClient } from '@p2pvps/protocol/client';
import type { RunningServer } from '../services/server.ts';
import { freePortBlock, startTestServer } from '../testing/test-server.ts';

export { freePortBlock };

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

export async function startRailsServer(env: Record<string, string>, base?: number): Promise<RailsServer> {
  const test = await startTestServer('rails', env, { base });
  const server: RailsServer = {
    running: test.server,
    url: test.server.apiUrl,
    api: new ApiClient({ baseUrl: test.server.apiUrl }),
    dataDir: test.dataDir,
    async restart() {
      server.running = await test.restart();
      // fetch's pool may still hold a connection to the old server and fails the first request on it
      // ("other side closed"), as a browser would once; spend that failure here, not in the test.
      await fetch(`${server.running.apiUrl}/api/v1/server`).catch(() => undefined);
    },
    close: () => test.stop(),
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
