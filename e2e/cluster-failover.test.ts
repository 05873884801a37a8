import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { ApiClient } from '@p2pvps/protocol/client';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import {
  createAgent,
  createSshKey,
  createUser,
  docker,
  openSsh,
  portBlock,
  removeDeviceContainers,
  rentalContainers,
  tempDir,
  waitFor,
  type TestAgent,
  type TestServer,
} from './harness.ts';

/**
 * Two server nodes, separate processes on one database (a SQLite file in WAL mode, which
 * several processes share; P2PVPS_TEST_DATABASE names another), each on a loopback address
 * of its own, both named in --cluster-nodes. A real agent learns the two from its heartbeat
 * replies. The node holding its tunnel is killed with SIGKILL: the agent moves to the other
 * within seconds, and the renter's stock OpenSSH reaches the same container, with the file
 * the first session wrote, through the surviving node.
 */
const bin = fileURLToPath(new URL('../packages/cli/bin/p2pvps', import.meta.url));
const base = portBlock(100);
const hosts = ['127.0.0.21', '127.0.0.22'] as const;
const apiUrl = (host: string) => `http://${host}:${base}`;
const clusterNodes = hosts.map((h) => `${apiUrl(h)} ${h}:${base + 1}`).join(', ');
const work = tempDir('cluster');
// A database of this test's own: a fresh one on the suite's PostgreSQL, else a SQLite file in WAL mode.
const testDatabase = await createTestDatabase(`sqlite:${join(work, 'cluster.sqlite')}`);
const database = testDatabase.url;

interface Node {
  host: string;
  dataDir: string;
  process: ChildProcess;
  api: ApiClient;
  /** What the node printed, for a failure's message. */
  output: () => string;
}
const nodes: Node[] = [];
let agent: TestAgent | undefined;
let deviceId: string | undefined;

/** Starts `p2pvps server` as its own process, as an operator's service manager would, and waits for its API. */
async function startNode(host: string, dataDir: string): Promise<Node> {
  const child = spawn(bin, ['server'], {
    env: {
      ...process.env,
      P2PVPS_DATA_DIR: dataDir,
      P2PVPS_DATABASE_URL: database,
      P2PVPS_HTTP_HOST: host,
      P2PVPS_HTTP_PORT: String(base),
      P2PVPS_HTTPS_PORT: String(base + 2),
      P2PVPS_GATEWAY_HOST: host,
      P2PVPS_GATEWAY_PORT: String(base + 1),
      P2PVPS_PUBLIC_BIND_HOST: host,
      P2PVPS_SSH_HOST: host,
      P2PVPS_SSH_PORT_RANGE: `${base + 10}-${base + 29}`,
      // One public URL for the whole cluster (the DNS name over the nodes): devices sign for it.
      P2PVPS_PUBLIC_URL: apiUrl(hosts[0]),
      P2PVPS_CLUSTER_NODES: clusterNodes,
      P2PVPS_BENCHMARK_INTERVAL_HOURS: '0',
      P2PVPS_LOG_LEVEL: process.env.P2PVPS_TEST_LOG ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const node: Node = { host, dataDir, process: child, api: new ApiClient({ baseUrl: apiUrl(host) }), output: () => output };
  nodes.push(node);
  await waitFor(
    `node ${host} to serve its API`,
    async () => {
      if (child.exitCode !== null) throw new Error(`node ${host} exited ${child.exitCode}: ${output}`);
      return (await node.api.call('market', { query: {} })).listings !== undefined;
    },
    60_000,
  );
  return node;
}

before(async () => {
  const first = await startNode(hosts[0], join(work, 'node1'));
  // The nodes of one cluster share the gateway's host key (devices pin it) and the key renters' passwords are sealed with.
  const second = join(work, 'node2');
  mkdirSync(second, { mode: 0o700 });
  for (const file of ['gateway_host_ed25519_key', 'gateway_host_ed25519_key.pub', 'secret-box.key'])
    copyFileSync(join(first.dataDir, file), join(second, file));
  await startNode(hosts[1], second);
});

after(async () => {
  await agent?.stop();
  await removeDeviceContainers(deviceId);
  for (const node of nodes) node.process.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
  await testDatabase.drop();
});

test('a device whose node is killed moves to another node, and the renter logs in again to the same container', async () => {
  const [node1, node2] = nodes as [Node, Node];
  // The harness's users, made through node 1 with its operator's credit.
  const server = {
    api: node1.api,
    httpPort: base,
    dataDir: node1.dataDir,
    operator: operatorClient(apiUrl(node1.host), node1.dataDir),
  } as unknown as TestServer;
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');

  const grant = await owner.api.call('addDevice', { body: { name: 'clustered' } });
  deviceId = grant.device.id;
  agent = await createAgent(server, grant.enrolmentToken, { serverUrl: apiUrl(node1.host) });
  await waitFor('the device to come online', async () => (await owner.api.call('getDevice', { params: { deviceId: deviceId! } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
  const state = () => JSON.parse(readFileSync(join(agent!.dataDir, 'state.json'), 'utf8')) as { nodes: { apiUrl: string }[] };
  assert.deepEqual(
    state().nodes.map((n) => n.apiUrl),
    hosts.map(apiUrl),
    "the agent keeps the cluster's nodes from the heartbeat reply",
  );

  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const through = (host: string) => ({ host, port: rental.connection.port, user: rental.connection.username, identity: key.privatePath });
  const first = await waitFor('the first login, through node 1', async () => {
    const r = await openSsh(through(node1.host), 'echo "written before the failover" > ~/kept && cat ~/kept');
    return r.code === 0 && r;
  });
  assert.equal(first.stdout, 'written before the failover\n');
  await waitFor(
    'the rental to be active',
    async () => (await renter.api.call('getRental', { params: { rentalId: rental.id } })).state === 'active',
  );
  const [container] = await rentalContainers(rental.id, docker, false);
  assert.ok(container, "the rental's container runs");
  const startedBefore = (await docker.getContainer(container.Id).inspect()).State.StartedAt;

  const killedAt = Date.now();
  node1.process.kill('SIGKILL');
  // Nothing answers for node 1 any more: not its API, not its public SSH port.
  assert.notEqual((await openSsh(through(node1.host), 'true', 5_000)).code, 0);

  const second = await waitFor(
    'the renter to log in again, through node 2',
    async () => {
      const r = await openSsh(through(node2.host), 'cat ~/kept', 5_000);
      return r.code === 0 && r;
    },
    60_000,
    200,
  );
  const seconds = (Date.now() - killedAt) / 1000;
  console.error(`# cluster failover: the renter logged in through node 2 ${seconds.toFixed(1)} s after node 1 was killed`);
  assert.equal(second.stdout, 'written before the failover\n', 'the file of the first session is still there');
  const inspect = await docker.getContainer(container.Id).inspect();
  assert.equal(inspect.State.Running, true);
  assert.equal(inspect.State.StartedAt, startedBefore, 'the same container, never stopped or restarted');
  assert.equal(agent.agent.tunnelUp, true);

  // Node 2 carries on with the rental: the renter logs in there and finds it active.
  const { token } = await node2.api.call('login', { body: { email: renter.email, password: 'correct horse battery' } });
  assert.equal((await node2.api.withToken(token).call('getRental', { params: { rentalId: rental.id } })).state, 'active');
});
