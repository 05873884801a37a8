import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { ApiClient } from '@p2pvps/protocol/client';
import {
  containerNetwork,
  createRentedDevice,
  createSshKey,
  createUser,
  openSsh,
  portBlock,
  removeDeviceContainers,
  tempDir,
  waitFor,
  type RentedDevice,
  type TestServer,
  printNodeErrors,
  runCommand,
} from './harness.ts';
import { serveWeb } from './renter-web.ts';

/**
 * Two `p2pvps server` processes, nodes A and B, share one database (a SQLite file in WAL
 * mode, or P2PVPS_TEST_DATABASE) and one cluster secret. A real agent enrols and opens
 * its tunnel through node A and is rented there; a visitor reaches the container's web
 * server by its name through node B's HTTP front door and over HTTPS by SNI through B's,
 * and stock OpenSSH logs into the rental through B's copy of the rental's SSH port: B
 * carries each over the node link to A. Nobody without the secret gets onto the link.
 */
const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));
const webDomain = 'vps.test';
const dir = tempDir('cluster');
const dataDir = join(dir, 'data');
// A database of this test's own: a fresh one on the suite's PostgreSQL, else a SQLite file in WAL mode.
const testDatabase = await createTestDatabase(`sqlite:${join(dir, 'cluster.sqlite')}`);
const databaseUrl = testDatabase.url;
const secretFile = join(dir, 'cluster.secret');
const base = portBlock(100);
const rentalPorts = `${base + 50}-${base + 69}`;

interface Node {
  id: string;
  process: ChildProcess;
  httpPort: number;
  httpsPort: number;
  linkPort: number;
  /** Where its renters' SSH ports listen: each node its own loopback address, the same port numbers. */
  publicHost: string;
  log: string[];
}
const nodes: Node[] = [];
let a: Node;
let b: Node;
let rented: RentedDevice;
let renterEmail: string;

/** Starts a node as its own process and waits until its API answers. */
async function startNode(id: string, offset: number, publicHost: string): Promise<Node> {
  const node: Node = {
    id,
    httpPort: base + offset,
    httpsPort: base + offset + 1,
    linkPort: base + offset + 3,
    publicHost,
    log: [],
    process: spawn(bin, ['server'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        // Nodes of a cluster share the gateway's host key and the key renters' passwords are sealed with.
        P2PVPS_DATA_DIR: dataDir,
        P2PVPS_DATABASE_URL: databaseUrl,
        P2PVPS_NODE_ID: id,
        P2PVPS_NODE_LINK_LISTEN: `127.0.0.1:${base + offset + 3}`,
        P2PVPS_CLUSTER_SECRET_FILE: secretFile,
        P2PVPS_NODE_HEARTBEAT_MS: '1000',
        P2PVPS_HTTP_PORT: String(base + offset),
        P2PVPS_HTTPS_PORT: String(base + offset + 1),
        P2PVPS_GATEWAY_PORT: String(base + offset + 2),
        P2PVPS_PUBLIC_BIND_HOST: publicHost,
        P2PVPS_SSH_PORT_RANGE: rentalPorts,
        P2PVPS_WEB_DOMAIN: webDomain,
        P2PVPS_BENCHMARK_INTERVAL_HOURS: '0',
        P2PVPS_LOG_LEVEL: process.env.P2PVPS_TEST_LOG ?? 'warn',
      },
    }),
  };
  for (const stream of [node.process.stdout, node.process.stderr]) stream?.on('data', (d) => node.log.push(String(d)));
  nodes.push(node);
  const api = new ApiClient({ baseUrl: `http://127.0.0.1:${node.httpPort}` });
  await waitFor(`node ${id} to answer`, async () => Boolean(await api.call('market', { query: {} })), 120_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}; its output:\n${node.log.join('')}`);
  });
  return node;
}

/** The harness's view of a server, for its user and device factories: node A's API. */
function asTestServer(node: Node): TestServer {
  return { api: new ApiClient({ baseUrl: `http://127.0.0.1:${node.httpPort}` }), dataDir, httpPort: node.httpPort } as TestServer;
}

before(async () => {
  writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // A first: it makes the schema, the keys and the operator; then B joins.
  a = await startNode('node-a', 0, '127.0.0.1');
  b = await startNode('node-b', 10, '127.0.0.2');
  const server = asTestServer(a);
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  renterEmail = renter.email;
  rented = await createRentedDevice(server, owner, renter, 'clustered');
  const cert = await serveWeb(rented.ssh, rented.rental.connection.webHost, 'clustered');
  writeFileSync(join(dir, 'container-cert.pem'), cert);
});

after(async () => {
  printNodeErrors(nodes);
  await rented?.agent.stop();
  await removeDeviceContainers(rented?.deviceId);
  for (const node of nodes) {
    if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
    const exited = new Promise((resolve) => node.process.once('exit', resolve));
    node.process.kill('SIGTERM');
    await exited;
  }
  await testDatabase.drop();
});

test("node B's API shows the rental's device online, though its tunnel is on node A", async () => {
  const viaB = new ApiClient({ baseUrl: `http://127.0.0.1:${b.httpPort}` });
  const session = await viaB.call('login', { body: { email: renterEmail, password: 'correct horse battery' } });
  const rental = await waitFor('node B to see the device online', async () => {
    const r = await viaB.withToken(session.token).call('getRental', { params: { rentalId: rented.rental.id } });
    return r.deviceOnline ? r : null;
  });
  assert.equal(rental.state, 'active');
});

test("HTTP to the device's name through node B's front door reaches the container through A", async () => {
  const host = rented.rental.connection.webHost;
  const r = await waitFor('the page through node B', async () => {
    const got = await runCommand('curl', [
      '-sS',
      '--max-time',
      '10',
      '--resolve',
      `${host}:${b.httpPort}:127.0.0.1`,
      `http://${host}:${b.httpPort}/`,
    ]);
    return got.stdout.includes('hello from') ? got : null;
  });
  assert.match(r.stdout, /^hello from clustered proto=http for=127\.0\.0\.1 path=\/\n$/);
});

test("HTTPS to the device's name through node B is passed through by SNI to the container's own certificate", async () => {
  const host = rented.rental.connection.webHost;
  const r = await waitFor('the page over TLS through node B', async () => {
    const got = await runCommand('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      join(dir, 'container-cert.pem'),
      '--resolve',
      `${host}:${b.httpsPort}:127.0.0.1`,
      `https://${host}:${b.httpsPort}/`,
    ]);
    return got.stdout.includes('hello from') ? got : null;
  });
  // Verified against the container's self-signed certificate: TLS ended in the container, not on a node.
  assert.match(r.stdout, /^hello from clustered proto=tls-direct for=- path=\/\n$/);
});

test("stock OpenSSH logs into the rental through node B's SSH port", async () => {
  const r = await waitFor('ssh through node B', async () => {
    const got = await openSsh({ ...rented.ssh, host: b.publicHost }, 'echo logged in as $(whoami) on $(hostname)');
    return got.code === 0 ? got : null;
  });
  assert.match(r.stdout, new RegExp(`^logged in as ${rented.ssh.user} on `));
  // And through A's, where the tunnel is, as before.
  const direct = await openSsh({ ...rented.ssh, host: a.publicHost }, 'whoami');
  assert.equal(direct.stdout.trim(), rented.ssh.user);
});

test('the node link refuses a client without the cluster secret', async () => {
  const key = createSshKey();
  const r = await runCommand('ssh', [
    '-p',
    String(b.linkPort),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-i',
    key.privatePath,
    '-o',
    'IdentitiesOnly=yes',
    '-N',
    '-W',
    `${rented.deviceId}:80`,
    'node-x@127.0.0.1',
  ]);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Permission denied \(publickey\)/);
});

test('when node A dies (kill -9), node B counts its device offline and says so to visitors', async () => {
  a.process.kill('SIGKILL');
  const viaB = new ApiClient({ baseUrl: `http://127.0.0.1:${b.httpPort}` });
  const session = await viaB.call('login', { body: { email: renterEmail, password: 'correct horse battery' } });
  // A's heartbeat goes stale (5 of 1 s) and B reaps its tunnels: the device is offline in the database.
  await waitFor('node B to see the device offline', async () => {
    const r = await viaB.withToken(session.token).call('getRental', { params: { rentalId: rented.rental.id } });
    return !r.deviceOnline;
  });
  const host = rented.rental.connection.webHost;
  const r = await runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '-i',
    '--resolve',
    `${host}:${b.httpPort}:127.0.0.1`,
    `http://${host}:${b.httpPort}/`,
  ]);
  assert.match(r.stdout, /^HTTP\/1\.1 502 /);
  assert.match(r.stdout, /device_unreachable/);
});
