import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { renterImageSource, renterNetworkName, RenterContainers, sshBanner } from './renter-containers.ts';

/** A Docker engine that records what the agent asks of it, for what the Docker API tests in e2e cannot show (they run on an engine without bridges). */
function fakeDocker(networks: object[] = [], info: object = withUserns) {
  const calls: { createNetwork: any[]; createContainer: any[] } = { createNetwork: [], createContainer: [] };
  const docker = {
    info: async () => info,
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

/** What `docker info` says on an engine with userns-remap=default, and on one without. */
const withUserns = { SecurityOptions: ['name=seccomp,profile=default', 'name=userns'], DockerRootDir: '/var/lib/docker/100000.100000' };
const withoutUserns = { SecurityOptions: ['name=seccomp,profile=default'], DockerRootDir: '/var/lib/docker' };

const options = (docker: Docker) => ({
  docker,
  deviceId: 'dev1',
  image: 'p2pvps/renter:latest',
  network: 'bridge' as const,
  sshPort: 22022,
  httpPort: 22080,
  httpsPort: 22443,
  limits: { cpus: 1.5, memoryMb: 512, pidsLimit: 256 },
  hostCores: 4,
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

const rental = { rentalId: 'r1', username: 'ruser', passwordHash: '$6$salt$hash', authorizedKey: null, expiresAt: null };

test('the container joins the renter network, unprivileged, with every limit', async () => {
  const { docker, calls } = fakeDocker([], withoutUserns);
  await assert.rejects(new RenterContainers(options(docker)).start(rental, '/srv/home', 1000), /stop here/);
  const hc = calls.createContainer[0].HostConfig;
  assert.equal(hc.NetworkMode, renterNetworkName);
  assert.deepEqual(hc.PortBindings['22/tcp'], [{ HostIp: '127.0.0.1', HostPort: '22022' }], 'sshd published on loopback only');
  assert.equal(hc.Privileged, false);
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
  assert.equal(hc.NanoCpus, 1.5e9, 'without an offer (an older server), the configured limits');
  assert.equal(hc.CpusetCpus, '2-3', 'on whole CPUs, the last ones');
  assert.ok(!calls.createContainer[0].Env.includes('P2PVPS_ROOT=1'), 'no root on an engine without user namespaces');
  assert.equal(hc.Memory, 512 * 1024 * 1024);
  assert.equal(hc.MemorySwap, hc.Memory, 'no swap beyond the memory limit');
  assert.equal(hc.PidsLimit, 256);
  assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 16384 }], 'a renter process cannot hold a million open files');
  assert.deepEqual(hc.Mounts, [{ Type: 'bind', Source: '/srv/home', Target: '/home' }]);
  assert.deepEqual(Object.keys(hc.Tmpfs).sort(), ['/run/lock', '/tmp', '/var/tmp']);
  const env: string[] = calls.createContainer[0].Env;
  assert.ok(env.includes('P2PVPS_PASSWORD_HASH=$6$salt$hash'), 'the container gets the hash for chpasswd -e');
  assert.ok(!env.some((e) => e.startsWith('P2PVPS_PASSWORD=')), 'and no password variable');
});

test('with an offer the container gets exactly what was rented, and LXCFS files over /proc when there are some', async () => {
  const { docker, calls } = fakeDocker([], withoutUserns);
  const MiB = 1024 * 1024;
  const offer = { cores: 1, memoryBytes: 256 * MiB, diskBytes: 64 * MiB, bandwidthMbit: 20 };
  const rental = { rentalId: 'r1', username: 'ruser', passwordHash: '$6$s$h', authorizedKey: null, expiresAt: null, offer };
  const lxcfs = [{ Type: 'bind' as const, Source: '/var/lib/lxcfs/proc/meminfo', Target: '/proc/meminfo', ReadOnly: true }];
  await assert.rejects(new RenterContainers({ ...options(docker), lxcfs }).start(rental, '/srv/home', 1000), /stop here/);
  const hc = calls.createContainer[0].HostConfig;
  assert.equal(hc.CpusetCpus, '3');
  assert.equal(hc.NanoCpus, 1e9);
  assert.equal(hc.Memory, 256 * MiB);
  assert.equal(hc.MemorySwap, 256 * MiB);
  assert.deepEqual(hc.Mounts, [{ Type: 'bind', Source: '/srv/home', Target: '/home' }, ...lxcfs]);
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

test('a port that accepts and closes without a banner (Docker port proxy before sshd listens) is not sshd yet', async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let guard: NodeJS.Timeout | undefined;
  try {
    // The probe's own timeout is 1 s; an answer that never comes would leave the agent waiting forever.
    const hung = new Promise<string>((r) => (guard = setTimeout(() => r('no answer'), 5000)));
    assert.equal(await Promise.race([sshBanner((server.address() as AddressInfo).port), hung]), false);
  } finally {
    clearTimeout(guard);
    server.close();
  }
});

test('the container runs under the runtime the agent checked: runc by default, gVisor when the owner chose it', async () => {
  const rental = { rentalId: 'r1', username: 'ruser', passwordHash: '$6$salt$hash', authorizedKey: null, expiresAt: null };
  const plain = fakeDocker([], withoutUserns);
  await assert.rejects(new RenterContainers(options(plain.docker)).start(rental, '/srv/home', 1000), /stop here/);
  assert.equal(plain.calls.createContainer[0].HostConfig.Runtime, 'runc');
  const gvisor = fakeDocker();
  const runtime = { runtime: 'runsc' as const, usernsRemap: true };
  await assert.rejects(new RenterContainers({ ...options(gvisor.docker), runtime }).start(rental, '/srv/home', 1000), /stop here/);
  const hc = gvisor.calls.createContainer[0].HostConfig;
  assert.equal(hc.Runtime, 'runsc');
  assert.equal(hc.UsernsMode, 'host');
  assert.ok(!gvisor.calls.createContainer[0].Env.includes('P2PVPS_ROOT=1'), 'out of the remap, the renter is not root');
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
  assert.match(
    (await new RenterContainers({ ...options(gvisor.docker), runtime }).rootWarning()) ?? '',
    /not root.*gVisor/,
    'the owner is told why',
  );
  assert.ok(hc.CapAdd.includes('NET_BIND_SERVICE'));
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.equal(new Set(hc.CapAdd).size, hc.CapAdd.length);
});

test("the renter image is built again when it was made from other files than this agent's (say, an entrypoint that took the password in clear)", async () => {
  const built: { t: string; labels: Record<string, string> }[] = [];
  const withLabels = (labels: Record<string, string> | undefined) =>
    ({
      getImage: () => ({ inspect: async () => ({ Config: { Labels: labels } }) }),
      buildImage: async (_context: unknown, o: { t: string; labels: Record<string, string> }) => void built.push(o),
      modem: { followProgress: (_s: unknown, done: (err: unknown, out: unknown[]) => void) => done(null, []) },
    }) as unknown as Docker;
  const source = renterImageSource();
  assert.match(source, /^[0-9a-f]{16}$/);

  await new RenterContainers(options(withLabels({ 'org.p2pvps.source': source }))).ensureImage();
  assert.equal(built.length, 0, 'built from these files: used as it is');
  await new RenterContainers(options(withLabels(undefined))).ensureImage();
  assert.equal(built.length, 0, "an image without our label (an owner's own) is left alone");
  await new RenterContainers(options(withLabels({ 'org.p2pvps.source': '0123456789abcdef' }))).ensureImage();
  assert.deepEqual(built, [{ t: 'p2pvps/renter:latest', labels: { 'org.p2pvps.source': source } }], 'rebuilt, with the label');
});

test('on an engine with userns-remap the renter is root: sudo works, the home belongs to the remapped root, dangerous capabilities stay out', async () => {
  const { docker, calls } = fakeDocker();
  const home = mkdtempSync(join(tmpdir(), 'p2pvps-home-'));
  try {
    const containers = new RenterContainers(options(docker));
    assert.equal(await containers.rootWarning(), null);
    await assert.rejects(containers.start(rental, home, 1000), /stop here/);
    const { Env, HostConfig: hc } = calls.createContainer[0];
    assert.ok(Env.includes('P2PVPS_ROOT=1'));
    assert.deepEqual(hc.SecurityOpt, [], 'no no-new-privileges: sudo is setuid; seccomp and AppArmor stay the defaults');
    assert.equal(hc.Privileged, false);
    assert.deepEqual(hc.CapDrop, ['ALL']);
    for (const cap of ['CHOWN', 'SETUID', 'SETGID', 'NET_BIND_SERVICE', 'FSETID']) assert.ok(hc.CapAdd.includes(cap), cap);
    for (const cap of ['SYS_ADMIN', 'MKNOD', 'NET_RAW', 'NET_ADMIN', 'SYS_MODULE', 'SYS_PTRACE']) assert.ok(!hc.CapAdd.includes(cap), cap);
    assert.equal(hc.PidsLimit, 256, 'limits kept');
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 16384 }]);
    const st = statSync(home);
    assert.deepEqual([st.uid, st.gid], [100000, 100000], "/home belongs to the container's root as the host sees it");
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('on an engine without user namespaces the owner is told why renters get no root', async () => {
  const { docker } = fakeDocker([], withoutUserns);
  assert.match((await new RenterContainers(options(docker)).rootWarning()) ?? '', /userns-remap.*install-agent\.sh/);
});

test('a prepared container is confined exactly as a rental started from nothing, and carries no credentials', async () => {
  const { docker, calls } = fakeDocker([], withoutUserns);
  const rental = {
    rentalId: 'r1',
    username: 'ruser',
    passwordHash: '$6$salt$secrethash',
    authorizedKey: 'ssh-ed25519 AAAA renter',
    expiresAt: null,
  };
  const containers = new RenterContainers(options(docker));
  await assert.rejects(containers.start(rental, '/srv/home', 1000), /stop here/);
  await assert.rejects(containers.prepare('/srv/home'), /stop here/);
  const [started, prepared] = calls.createContainer;
  assert.deepEqual(prepared.HostConfig, started.HostConfig, 'the same network, limits, capabilities, mounts and restart policy');
  assert.deepEqual(prepared.Entrypoint, ['/usr/local/sbin/p2pvps-await-renter']);
  assert.equal(prepared.Labels['org.p2pvps.rental'], undefined, 'it belongs to no rental');
  assert.ok(!JSON.stringify(prepared).includes('ruser') && !JSON.stringify(prepared).includes('secrethash'));
  assert.deepEqual(
    prepared.Env.filter((e: string) => /^P2PVPS_(USER|PASSWORD|PASSWORD_HASH|AUTHORIZED_KEY)=/.test(e)),
    [],
    'the renter arrives only at the hand-over, through its stdin',
  );
});
