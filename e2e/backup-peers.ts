import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '@p2pvps/protocol/client';
import type { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { createServer, waitFor, type TestServer } from './harness.ts';

/**
 * Test support for backup peers (docs/federation.md, "Backup peers and failover"): a home
 * server B run as its own process (so a test can kill -9 it and start it again on the same
 * data dir and database), and a backup server C in the test's process, linked both ways by
 * their operators, C backing up B. Used by e2e/federation-failover.test.ts and
 * bench/federation-failover.ts.
 */

const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));

export interface ChildServer {
  url: string;
  httpPort: number;
  dataDir: string;
  process: ChildProcess;
  api: ApiClient;
  output(): string;
  start(): Promise<void>;
  kill(): void;
}

/** `p2pvps server` as its own process, as an operator's service manager runs it; start() waits for its API. */
export function childServer(o: {
  name: string;
  dataDir: string;
  databaseUrl: string;
  portBase: number;
  webDomain: string;
  /** More options, as environment variables (they win over the ones here). */
  env?: Record<string, string>;
}): ChildServer {
  const url = `http://127.0.0.1:${o.portBase}`;
  let output = '';
  const server: ChildServer = {
    url,
    httpPort: o.portBase,
    dataDir: o.dataDir,
    process: undefined as unknown as ChildProcess,
    api: new ApiClient({ baseUrl: url }),
    output: () => output,
    async start() {
      const child = spawn(bin, ['server'], {
        env: {
          ...process.env,
          P2PVPS_SERVER_NAME: o.name,
          P2PVPS_DATA_DIR: o.dataDir,
          P2PVPS_DATABASE_URL: o.databaseUrl,
          P2PVPS_HTTP_PORT: String(o.portBase),
          P2PVPS_GATEWAY_PORT: String(o.portBase + 1),
          P2PVPS_HTTPS_PORT: String(o.portBase + 2),
          P2PVPS_SSH_PORT_RANGE: `${o.portBase + 10}-${o.portBase + 29}`,
          P2PVPS_WEB_DOMAIN: o.webDomain,
          P2PVPS_FEDERATION_PUSH_CHECK_MS: '200',
          P2PVPS_FEDERATION_PULL_MS: '0',
          P2PVPS_BENCHMARK_INTERVAL_HOURS: '0',
          P2PVPS_EXPIRY_CHECK_INTERVAL_MS: '200',
          P2PVPS_LOG_LEVEL: process.env.P2PVPS_TEST_LOG ?? 'warn',
          ...o.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      server.process = child;
      await waitFor(
        `${o.name} to serve its API`,
        async () => {
          if (child.exitCode !== null) throw new Error(`${o.name} exited ${child.exitCode}: ${output}`);
          return (await server.api.call('market', { query: {} })).listings !== undefined;
        },
        60_000,
      );
    },
    kill() {
      server.process.kill('SIGKILL');
    },
  };
  return server;
}

/** The backup server C, in this process, with its own web domain. */
export function backupServer(portBase: number, webDomain: string): Promise<TestServer> {
  return createServer({
    portBase,
    env: {
      P2PVPS_SERVER_NAME: 'c',
      P2PVPS_WEB_DOMAIN: webDomain,
      P2PVPS_FEDERATION_PUSH_CHECK_MS: '200',
      P2PVPS_FEDERATION_PULL_MS: '0',
    },
  });
}

/** Links B and C both ways, C backing B up (C's operator switches it on before B links C, so B's first ask gets an agreement). */
export async function linkWithBackup(b: { url: string; dataDir: string }, c: TestServer): Promise<void> {
  const cUrl = `http://127.0.0.1:${c.httpPort}`;
  const bOperator = await operatorClient(b.url, b.dataDir);
  const cOperator = await operatorClient(cUrl, c.dataDir);
  const fingerprint = async (api: ApiClient) => (await api.call('adminFederation')).identity.fingerprint;
  const peerB = await cOperator.call('adminLinkPeer', { body: { url: b.url, fingerprint: await fingerprint(bOperator) } });
  await cOperator.call('adminPeerBackup', { params: { peerId: peerB.id }, body: { allow: true } });
  await bOperator.call('adminLinkPeer', { body: { url: cUrl, fingerprint: await fingerprint(cOperator) } });
}

/** The backups the agent keeps in its state file, as B's heartbeat replies named them. */
export function agentBackups(agentDataDir: string): DeviceBackup[] {
  return (JSON.parse(readFileSync(join(agentDataDir, 'state.json'), 'utf8')) as { backups?: DeviceBackup[] }).backups ?? [];
}
