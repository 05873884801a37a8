import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '@p2pvps/protocol/client';
import { openDatabase, type Db } from '@p2pvps/server/db/database';
import { findLease } from '@p2pvps/server/db/leases-repo';
import { driftedAccounts, ledgerTotal } from '@p2pvps/server/db/ledger-repo';
import { findRental } from '@p2pvps/server/db/rentals-repo';
import { startTestPostgres } from '@p2pvps/server/testing/postgres';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import {
  containerNetwork,
  createAgent,
  createSshKey,
  createUser,
  openSsh,
  portBlock,
  removeDeviceContainers,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
  printNodeErrors,
  runCommand,
} from './harness.ts';

/**
 * The proof at scale: three `p2pvps server` processes, each on a loopback address of its
 * own with the same ports, share one PostgreSQL and one cluster secret. Two real agents
 * hold their tunnels on different nodes; renters rent through a node that does not hold
 * the device's tunnel, and a visitor reaches a rented container's web server by its name
 * through such a node. Then node 1, which holds a device's tunnel and leads the periodic
 * work, is killed with SIGKILL: its device comes back on a survivor and is rented and
 * logged into there, the meter goes on billing on a survivor, and the books sum to zero.
 *
 * PostgreSQL is P2PVPS_TEST_DATABASE's (a database of its own in it) or, in the SQLite
 * pass, one the test starts itself: a cluster of nodes needs PostgreSQL.
 */
const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));
/** Picked in before(): a block of ports free on all three addresses (freePortBlock). */
let base = 0;
const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
const ids = ['node-1', 'node-2', 'node-3'];
const apiUrl = (host: string) => `http://${host}:${base}`;
const gatewayPort = () => base + 2;
const clusterNodes = () => hosts.map((h) => `${apiUrl(h)} ${h}:${gatewayPort()}`).join(', ');
const webDomain = 'vps.test';
const password = 'correct horse battery';
const work = tempDir('cluster3');
const dataDir = join(work, 'data');
const secretFile = join(work, 'cluster.secret');

interface Node {
  id: string;
  host: string;
  process: ChildProcess;
  api: ApiClient;
  log: string[];
}
const nodes: Node[] = [];
const agents: TestAgent[] = [];
const deviceIds: string[] = [];
let databaseUrl = '';
let db: Db | undefined;
let cleanupDatabase: () => Promise<void> = async () => {};

async function startNode(index: number): Promise<Node> {
  const host = hosts[index]!;
  const child = spawn(bin, ['server'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      // The nodes share the data dir: the gateway's host key (devices pin it) and the key renters' passwords are sealed with.
      P2PVPS_DATA_DIR: dataDir,
      P2PVPS_DATABASE_URL: databaseUrl,
      P2PVPS_NODE_ID: ids[index]!,
      P2PVPS_NODE_LINK_LISTEN: `${host}:${base + 3}`,
      P2PVPS_CLUSTER_SECRET_FILE: secretFile,
      P2PVPS_NODE_HEARTBEAT_MS: '1000',
      P2PVPS_LEADER_LEASE_TTL_MS: '2000',
      // Bills whole minutes as soon as they are used, so a minute after the kill shows at once.
      P2PVPS_METER_INTERVAL_MS: '1000',
      P2PVPS_HTTP_HOST: host,
      P2PVPS_HTTP_PORT: String(base),
      P2PVPS_HTTPS_PORT: String(base + 1),
      P2PVPS_GATEWAY_HOST: host,
      P2PVPS_GATEWAY_PORT: String(gatewayPort()),
      P2PVPS_PUBLIC_BIND_HOST: host,
      P2PVPS_SSH_HOST: host,
      P2PVPS_SSH_PORT_RANGE: `${base + 10}-${base + 29}`,
      // One public URL for the whole cluster (the DNS name over the nodes): devices sign for it.
      P2PVPS_PUBLIC_URL: apiUrl(hosts[0]),
      P2PVPS_CLUSTER_NODES: clusterNodes(),
      P2PVPS_WEB_DOMAIN: webDomain,
      P2PVPS_BENCHMARK_INTERVAL_HOURS: '0',
      P2PVPS_LOG_LEVEL: process.env.P2PVPS_TEST_LOG ?? 'warn',
    },
  });
  const node: Node = { id: ids[index]!, host, process: child, api: new ApiClient({ baseUrl: apiUrl(host) }), log: [] };
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d) => node.log.push(String(d)));
  nodes.push(node);
  await waitFor(
    `${node.id} to serve its API`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${node.id} exited ${child.exitCode}: ${node.log.join('')}`);
      return Boolean(await node.api.call('market', { query: {} }));
    },
    120_000,
    200,
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (child.exitCode !== null) throw new Error(`${node.id} exited ${child.exitCode}: ${node.log.join('')}`);
  return node;
}

/**
 * Other tests share the namespace's loopback and pick their ports at random too: one
 * listening on 127.0.0.1 at this block's API port would answer for node 1 (and node 1 would
 * die unseen). So the block must be free on all three addresses before the nodes start.
 */
async function freePortBlock(): Promise<number> {
  const free = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const probe = createNetServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, host, () => probe.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const block = portBlock(100);
    let ok = true;
    for (let port = block; ok && port < block + 100; port++) for (const h of hosts) if (ok && !(await free(h, port))) ok = false;
    if (ok) return block;
  }
  throw new Error('no free block of 100 ports on 127.0.0.1-3');
}

/** The node holding a device's tunnel, as the cluster records it. */
async function tunnelHolder(deviceId: string): Promise<string | undefined> {
  const row = await db!.selectFrom('tunnel_holders').select('node_id').where('device_id', '=', deviceId).executeTakeFirst();
  return row?.node_id;
}

/** A renter logged in through a given node. */
async function loginThrough(node: Node, email: string): Promise<ApiClient> {
  const { token } = await node.api.call('login', { body: { email, password } });
  return node.api.withToken(token);
}

before(async () => {
  base = await freePortBlock();
  const admin = process.env.P2PVPS_TEST_DATABASE;
  if (admin && /^postgres(ql)?:\/\//.test(admin)) {
    const own = await createTestDatabase('');
    databaseUrl = own.url;
    cleanupDatabase = () => own.drop();
  } else {
    const pg = await startTestPostgres({ port: base + 99 });
    databaseUrl = pg.url;
    cleanupDatabase = () => pg.stop();
  }
  writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // Node 1 first: it makes the schema, the keys and the operator, and leads the periodic work from its start.
  await startNode(0);
  await startNode(1);
  await startNode(2);
  db = openDatabase(databaseUrl);
});

after(async () => {
  printNodeErrors(nodes);
  for (const agent of agents) await agent.stop();
  for (const id of deviceIds) await removeDeviceContainers(id);
  for (const node of nodes) {
    if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
    const exited = new Promise((resolve) => node.process.once('exit', resolve));
    node.process.kill('SIGTERM');
    await exited;
  }
  await db?.destroy();
  await cleanupDatabase();
  rmSync(work, { recursive: true, force: true });
});

test('three nodes on one PostgreSQL: devices spread over them, rented and visited through any node, and a killed node changes nothing a user keeps', async (t) => {
  const [node1, node2, node3] = nodes as [Node, Node, Node];
  assert.equal((await findLease(db!, 'periodic-work'))?.holderNode, node1.id, 'the first node leads the periodic work');
  const server = { api: node1.api, dataDir, httpPort: base } as TestServer;
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');

  // Two devices, enrolled through the public URL (node 1). The second is moved to node 2 as
  // a device is after an earlier move: its saved list of nodes starts with node 2.
  const devices: { id: string; agent: TestAgent }[] = [];
  for (const name of ['pi-one', 'pi-two']) {
    const grant = await owner.api.call('addDevice', { body: { name } });
    deviceIds.push(grant.device.id);
    const agent = await createAgent(server, grant.enrolmentToken, { serverUrl: apiUrl(node1.host) });
    agents.push(agent);
    devices.push({ id: grant.device.id, agent });
  }
  const statePath = (agent: TestAgent) => join(agent.dataDir, 'state.json');
  const state = (agent: TestAgent) => JSON.parse(readFileSync(statePath(agent), 'utf8')) as { nodes: { apiUrl: string }[] };
  for (const d of devices)
    await waitFor(
      'the agent to learn the three nodes',
      async () => state(d.agent).nodes.length === 3 && (await tunnelHolder(d.id)) === node1.id,
    );
  const [one, two] = devices as [(typeof devices)[0], (typeof devices)[0]];
  await two.agent.agent.close();
  const saved = JSON.parse(readFileSync(statePath(two.agent), 'utf8')) as { nodes: { apiUrl: string }[] };
  saved.nodes = [
    ...saved.nodes.filter((n) => n.apiUrl === apiUrl(node2.host)),
    ...saved.nodes.filter((n) => n.apiUrl !== apiUrl(node2.host)),
  ];
  writeFileSync(statePath(two.agent), JSON.stringify(saved));
  await two.agent.restart();
  await waitFor("the second device's tunnel on node 2", async () => (await tunnelHolder(two.id)) === node2.id, 60_000);
  for (const d of devices) {
    await waitFor('the device online', async () => (await owner.api.call('getDevice', { params: { deviceId: d.id } })).online);
    await owner.api.call('updateDevice', { params: { deviceId: d.id }, body: { pricePerHourMicros: 6_000_000, onMarket: true } });
  }
  assert.equal(await tunnelHolder(one.id), node1.id);

  // The renter rents the device on node 2 through node 3, and logs in through node 3 and node 1.
  const viaNode3 = await loginThrough(node3, renter.email);
  const key = createSshKey();
  const rental = await viaNode3.call('rent', { body: { deviceId: two.id, sshPublicKey: key.publicKey } });
  const ssh = (node: Node) => ({
    host: node.host,
    port: rental.connection.port,
    user: rental.connection.username,
    identity: key.privatePath,
  });
  const bind = containerNetwork === 'bridge' ? '0.0.0.0' : '127.0.0.1';
  const started = await waitFor('ssh through node 3 into the device on node 2', async () => {
    const r = await openSsh(
      ssh(node3),
      `mkdir -p www && echo "served by the rented container" > www/index.html && ` +
        `(cd www && setsid nohup python3 -m http.server "$P2PVPS_HTTP_PORT" --bind ${bind} > ../web.log 2>&1 < /dev/null &) && whoami`,
    );
    return r.code === 0 && r;
  });
  assert.equal(started.stdout.trim(), rental.connection.username);
  await waitFor('ssh through node 1 too', async () => (await openSsh(ssh(node1), 'whoami')).stdout.trim() === rental.connection.username);
  await waitFor(
    'the rental to be active',
    async () => (await viaNode3.call('getRental', { params: { rentalId: rental.id } })).state === 'active',
  );

  // A visitor reaches the container's web server by its name through node 1, which does not hold the tunnel.
  const webHost = rental.connection.webHost;
  const page = await waitFor('the page through node 1', async () => {
    const got = await runCommand('curl', [
      '-sS',
      '--max-time',
      '10',
      '--resolve',
      `${webHost}:${base}:${node1.host}`,
      `http://${webHost}:${base}/`,
    ]);
    return got.stdout.includes('served by') && got;
  });
  assert.equal(page.stdout, 'served by the rented container\n');

  // Node 1 dies: it held the first device's tunnel and led the periodic work.
  const lease = await findLease(db!, 'periodic-work');
  assert.equal(lease?.holderNode, node1.id);
  const billedAtKill = (await findRental(db!, rental.id))!.billed_minutes;
  const killedAt = Date.now();
  node1.process.kill('SIGKILL');
  // Watched from the kill on: when a survivor takes over the periodic work.
  const leaseMoved = waitFor(
    'a survivor to lead',
    async () => {
      const l = await findLease(db!, 'periodic-work');
      return l && l.holderNode !== node1.id && { holder: l.holderNode, after: (Date.now() - killedAt) / 1000 };
    },
    60_000,
    100,
  );

  leaseMoved.catch(() => {}); // awaited below; a failure before that is the test's, not an unhandled rejection
  const survivors = [node2, node3];
  const viaNode2 = await loginThrough(node2, renter.email);
  const ownerViaNode2 = await loginThrough(node2, owner.email);
  await waitFor(
    'the first device online on a survivor',
    async () =>
      [node2.id, node3.id].includes((await tunnelHolder(one.id)) ?? '') &&
      (await ownerViaNode2.call('getDevice', { params: { deviceId: one.id } })).online,
    60_000,
    200,
  );
  const onlineAfter = (Date.now() - killedAt) / 1000;
  const secondKey = createSshKey();
  // Refused (device_offline…) until the cluster counts it online on its new node.
  const second = await waitFor(
    'a rent through node 2',
    () => viaNode2.call('rent', { body: { deviceId: one.id, sshPublicKey: secondKey.publicKey } }),
    60_000,
    500,
  );
  // Through the survivor that does not hold its tunnel, when there is one.
  const holderId = await tunnelHolder(one.id);
  const holder = survivors.find((n) => n.id !== holderId)!;
  const login = await waitFor(
    'stock OpenSSH into the first device through a survivor',
    async () => {
      const r = await openSsh(
        { host: holder.host, port: second.connection.port, user: second.connection.username, identity: secondKey.privatePath },
        'whoami',
        10_000,
      );
      return r.code === 0 && r;
    },
    60_000,
    500,
  );
  const rentableAfter = (Date.now() - killedAt) / 1000;
  assert.equal(login.stdout.trim(), second.connection.username);
  t.diagnostic(
    `kill -9 of node 1: its device online again after ${onlineAfter.toFixed(1)} s, rented and logged into after ${rentableAfter.toFixed(1)} s`,
  );
  assert.ok(rentableAfter < 60, 'rentable within 60 s');

  // A survivor took the lease and meters: the first rental's billed minutes go on increasing.
  const newLease = await leaseMoved;
  assert.ok([node2.id, node3.id].includes(newLease.holder));
  await waitFor(
    'a minute billed after the kill',
    async () => (await findRental(db!, rental.id))!.billed_minutes > billedAtKill,
    90_000,
    500,
  );
  t.diagnostic(
    `${newLease.holder} took the lease ${newLease.after.toFixed(1)} s after the kill; the meter billed minute ${(await findRental(db!, rental.id))!.billed_minutes} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
  );
  assert.equal((await viaNode2.call('getRental', { params: { rentalId: rental.id } })).state, 'active');
  // Its renter and its visitors never noticed: node 3 still carries them to node 2.
  assert.equal((await openSsh(ssh(node3), 'whoami')).stdout.trim(), rental.connection.username);
  const pageAfter = await runCommand('curl', [
    '-sS',
    '--max-time',
    '10',
    '--resolve',
    `${webHost}:${base}:${node3.host}`,
    `http://${webHost}:${base}/`,
  ]);
  assert.equal(pageAfter.stdout, 'served by the rented container\n');

  assert.equal(await ledgerTotal(db!), 0n, 'the books sum to zero');
  assert.deepEqual(await driftedAccounts(db!), [], 'no account drifted from its entries');
});
