import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { renterNetworkName, RenterContainers } from './renter-containers.ts';

/** A Docker engine that records what the agent asks of it, for what the Docker API tests in e2e cannot show (they run on an engine without bridges). */
function fakeDocker(networks: object[] = []) {
  const calls: { createNetwork: any[]; createContainer: any[] } = { createNetwork: [], createContainer: [] };
  const docker = {
    listNetworks: async () => networks,
    createNetwork: async (o: unknown) => void calls.createNetwork.push(o),
    createContainer: async (o: unknown) => {
      calls.createContainer.push(o);
      return {
        start: async () => {
          throw new Error('stop here');
        },
      };
    },
  } as unknown as Docker;
  return { docker, calls };
}

const options = (docker: Docker) => ({
  docker,
  deviceId: 'dev1',
  image: 'p2pvps/renter:latest',
  network: 'bridge' as const,
  sshPort: 22022,
  httpPort: 22080,
  httpsPort: 22443,
  limits: { cpus: 1.5, memoryMb: 512, pidsLimit: 256 },
  log: () => undefined,
});

test('with bridge networking the agent makes its own network: bridge p2pvps0, no traffic between containers', async () => {
  const { docker, calls } = fakeDocker();
  assert.equal(await new RenterContainers(options(docker)).ensureNetwork(), 'p2pvps0');
  assert.equal(calls.createNetwork.length, 1);
  const n = calls.createNetwork[0];
  assert.equal(n.Name, renterNetworkName);
  assert.equal(n.Driver, 'bridge');
  assert.equal(n.Options['com.docker.network.bridge.name'], 'p2pvps0');
  assert.equal(n.Options['com.docker.network.bridge.enable_icc'], 'false');
  assert.ok(!n.EnableIPv6);
});

test('an existing renter network is used; one with another bridge name is refused with a way out', async () => {
  const ok = fakeDocker([{ Name: renterNetworkName, Options: { 'com.docker.network.bridge.name': 'p2pvps0' } }]);
  await new RenterContainers(options(ok.docker)).ensureNetwork();
  assert.equal(ok.calls.createNetwork.length, 0);
  const bad = fakeDocker([{ Name: renterNetworkName, Options: {} }]);
  await assert.rejects(new RenterContainers(options(bad.docker)).ensureNetwork(), /docker network rm p2pvps-renter/);
});

test('the container joins the renter network, unprivileged, with every limit', async () => {
  const { docker, calls } = fakeDocker();
  const rental = { rentalId: 'r1', username: 'ruser', password: 'pw', authorizedKey: null, expiresAt: null };
  await assert.rejects(new RenterContainers(options(docker)).start(rental, '/srv/home', 1000), /stop here/);
  const hc = calls.createContainer[0].HostConfig;
  assert.equal(hc.NetworkMode, renterNetworkName);
  assert.deepEqual(hc.PortBindings['22/tcp'], [{ HostIp: '127.0.0.1', HostPort: '22022' }], 'sshd published on loopback only');
  assert.equal(hc.Privileged, false);
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
  assert.equal(hc.NanoCpus, 1.5e9);
  assert.equal(hc.Memory, 512 * 1024 * 1024);
  assert.equal(hc.MemorySwap, hc.Memory, 'no swap beyond the memory limit');
  assert.equal(hc.PidsLimit, 256);
  assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 16384 }], 'a renter process cannot hold a million open files');
  assert.deepEqual(hc.Mounts, [{ Type: 'bind', Source: '/srv/home', Target: '/home' }]);
  assert.deepEqual(Object.keys(hc.Tmpfs).sort(), ['/run/lock', '/tmp', '/var/tmp']);
});

test('stopAll stops the running containers of this device at once and keeps them', async () => {
  const asked: { list?: unknown; stopped: [string, unknown][]; removed: string[] } = { stopped: [], removed: [] };
  const docker = {
    listContainers: async (o: unknown) => {
      asked.list = o;
      return [
        { Id: 'c1', State: 'running', Labels: { 'org.p2pvps.rental': 'r1' } },
        { Id: 'c2', State: 'exited', Labels: { 'org.p2pvps.rental': 'r0' } },
      ];
    },
    getContainer: (id: string) => ({
      stop: async (o: unknown) => void asked.stopped.push([id, o]),
      remove: async () => void asked.removed.push(id),
    }),
  } as unknown as Docker;
  assert.deepEqual(await new RenterContainers(options(docker)).stopAll(), ['r1']);
  assert.deepEqual(asked.list, { all: true, filters: { label: ['org.p2pvps.device=dev1'] } }, "only this device's containers");
  assert.deepEqual(asked.stopped, [['c1', { t: 0 }]], 'killed without a grace period');
  assert.deepEqual(asked.removed, [], 'the container and its files stay, to be started again');
});

test('a prepared container is confined exactly as a rental started from nothing, and carries no credentials', async () => {
  const { docker, calls } = fakeDocker();
  const rental = { rentalId: 'r1', username: 'ruser', password: 'pw-secret', authorizedKey: 'ssh-ed25519 AAAA renter', expiresAt: null };
  const containers = new RenterContainers(options(docker));
  await assert.rejects(containers.start(rental, '/srv/home', 1000), /stop here/);
  await assert.rejects(containers.prepare('/srv/home'), /stop here/);
  const [started, prepared] = calls.createContainer;
  assert.deepEqual(prepared.HostConfig, started.HostConfig, 'the same network, limits, capabilities, mounts and restart policy');
  assert.deepEqual(prepared.Entrypoint, ['/usr/local/sbin/p2pvps-await-renter']);
  assert.equal(prepared.Labels['org.p2pvps.rental'], undefined, 'it belongs to no rental');
  assert.ok(!JSON.stringify(prepared).includes('ruser') && !JSON.stringify(prepared).includes('pw-secret'));
  assert.deepEqual(
    prepared.Env.filter((e: string) => /^P2PVPS_(USER|PASSWORD|PASSWORD_HASH|AUTHORIZED_KEY)=/.test(e)),
    [],
    'the renter arrives only at the hand-over, through the exec stdin',
  );
});
