import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig, type ServerConfig } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import { startServer, type RunningServer } from '../services/server.ts';
import { secretBoxKeyFile } from '../secret-box.ts';
import { createTestDatabase } from './test-database.ts';
import { portBlock } from './port-blocks.ts';

/**
 * A real server for a test file (SQLite or PostgreSQL: test-database.ts; gateway, API and front doors) on a temp data dir
 * and a block of loopback ports that is free when it starts:
 *
 *   base       HTTP front door (the API)
 *   base + 1   device tunnel gateway
 *   base + 2   HTTPS front door
 *   base + 3…9 not used by the server: free for the test's own listeners (pebble, …)
 *   base + 10…19 device SSH ports
 */
export interface TestServer {
  /** The running server; a new one after restart(). */
  server: RunningServer;
  config: ServerConfig;
  dataDir: string;
  /** The first port of the block. */
  base: number;
  /** Stops the server and starts it again on the same data dir, ports, options and clock, as an operator would. */
  restart(): Promise<RunningServer>;
  /** Stops the server and removes its data dir. */
  stop(): Promise<void>;
}

export const portBlockSize = 20;

/** A block of `portBlockSize` ports, none of them listened on and reserved for this process (port-blocks.ts). */
export async function freePortBlock(): Promise<number> {
  return portBlock(portBlockSize);
}

/**
 * Starts a server with a data dir named after `name`, silent logs, and `env` on top
 * (any P2PVPS_* option, the defaults above included). `base` picks the port block when
 * the test needs its ports before the server starts.
 */
export async function startTestServer(
  name: string,
  env: Record<string, string> = {},
  options: {
    clock?: Clock;
    logStream?: { write(line: string): void };
    base?: number;
    /** Another node of the same cluster: its secret-box.key is copied here first, as an operator would (docs/production.md). */
    nodeOf?: TestServer;
  } = {},
): Promise<TestServer> {
  const { base: chosen, nodeOf, ...startOptions } = options;
  const base = chosen ?? (await freePortBlock());
  const dataDir = mkdtempSync(join(tmpdir(), `p2pvps-${name}-`));
  if (nodeOf) copyFileSync(join(nodeOf.config.dataDir, secretBoxKeyFile), join(dataDir, secretBoxKeyFile));
  const database = await createTestDatabase(`sqlite:${dataDir}/p2pvps.sqlite`);
  let config: ServerConfig;
  let server: RunningServer;
  try {
    config = loadServerConfig([], {
      P2PVPS_DATA_DIR: dataDir,
      P2PVPS_HTTP_PORT: String(base),
      P2PVPS_GATEWAY_PORT: String(base + 1),
      P2PVPS_HTTPS_PORT: String(base + 2),
      P2PVPS_SSH_PORT_RANGE: `${base + 10}-${base + 19}`,
      P2PVPS_LOG_LEVEL: 'silent',
      P2PVPS_DATABASE_URL: database.url,
      ...env,
    });
    server = await startServer(config, startOptions);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
    throw err;
  }
  const test: TestServer = {
    server,
    config,
    dataDir,
    base,
    async restart() {
      await test.server.close();
      test.server = await startServer(config, startOptions);
      return test.server;
    },
    async stop() {
      await test.server.close();
      rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    },
  };
  return test;
}
