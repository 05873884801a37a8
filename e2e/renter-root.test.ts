import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  containerNetwork,
  createRentedDevice,
  createServer,
  createUser,
  docker,
  openSsh,
  removeDeviceContainers,
  tempDir,
  type RentedDevice,
  type SshResult,
  type TestServer,
} from './harness.ts';

/**
 * The renter is root in their container and nobody on the host: on the tests' engine
 * (userns-remap, the renter bridge; scripts/test runs this inside its network namespace),
 * root logs in by key through the gateway with stock OpenSSH, installs a package with
 * apt-get, serves on port 80 and adds users; and each way out tried below fails.
 */

let server: TestServer;
let device: RentedDevice;
let root: { port: number; user: string; identity: string };
/** A file on the host beside the renter's /home, on the same filesystem. */
let hostSecretPath = '';
const hostSecret = `host-secret-${process.pid}`;

const asRoot = (command: string): Promise<SshResult> => openSsh(root, command, 60_000);

before(async () => {
  assert.equal(
    containerNetwork,
    'bridge',
    'this test needs the tests\' engine with user namespaces and bridge networking: run it with "scripts/test e2e/renter-root.test.ts"',
  );
  const info = await docker.info();
  assert.ok(
    (info.SecurityOptions as string[]).some((o) => o.includes('name=userns')),
    `the engine at ${process.env.P2PVPS_DOCKER_SOCKET} has no user namespaces`,
  );
  server = await createServer();
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  device = await createRentedDevice(server, owner, renter, 'root-pi');
  root = { ...device.ssh, user: 'root' };
  const storage = join(device.agent.dataDir, 'renter-storage');
  hostSecretPath = join(storage, 'host-secret.txt');
  writeFileSync(hostSecretPath, `${hostSecret}\n`, { mode: 0o644 });
});

after(async () => {
  await device?.agent.stop();
  await removeDeviceContainers(device?.deviceId);
  await server?.stop();
});

test('root logs in by key through the gateway; the generated user has sudo', async () => {
  const who = await asRoot('id -u; id -un');
  assert.equal(who.code, 0, who.stderr);
  assert.equal(who.stdout, '0\nroot\n');
  const sudo = await openSsh(device.ssh, 'sudo -n id -u');
  assert.equal(sudo.code, 0, sudo.stderr);
  assert.equal(sudo.stdout.trim(), '0');
});

test("root's uid_map is an unprivileged range of the host, not the host's root", async () => {
  const map = await asRoot('cat /proc/self/uid_map /proc/self/gid_map');
  assert.equal(map.code, 0, map.stderr);
  const lines = map.stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  assert.equal(lines.length, 2);
  for (const [inside, outside, count] of lines) {
    assert.equal(inside, 0);
    assert.ok(outside! >= 65536, `root inside is host uid ${outside}, an unprivileged one`);
    assert.ok(count! <= 65536, `only ${count} ids are mapped, not the whole range`);
  }
  assert.doesNotMatch(map.stdout, /^\s*0\s+0\s+4294967295/m);
});

test('as root, apt-get installs a package from a local repository', async () => {
  // A tiny package, built here with dpkg-deb, in a flat repository apt trusts.
  const dir = tempDir('deb');
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
  mkdirSync(join(pkg, 'usr/bin'), { recursive: true });
  writeFileSync(
    join(pkg, 'DEBIAN/control'),
    'Package: p2pvps-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: p2pvps tests <tests@example.org>\nDescription: says hello\n',
  );
  writeFileSync(join(pkg, 'usr/bin/p2pvps-hello'), '#!/bin/sh\necho hello from a package\n');
  chmodSync(join(pkg, 'usr/bin/p2pvps-hello'), 0o755);
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', pkg, join(repo, 'p2pvps-hello_1.0_all.deb')], { stdio: 'ignore' });
  writeFileSync(join(repo, 'Packages'), execFileSync('dpkg-scanpackages', ['.'], { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }));
  assert.deepEqual(readdirSync(repo).sort(), ['Packages', 'p2pvps-hello_1.0_all.deb']);

  const copied = await scp(root, repo, '/srv/');
  assert.equal(copied.code, 0, copied.stderr);
  const install = await asRoot(
    'echo "deb [trusted=yes] file:/srv/repo ./" > /etc/apt/sources.list.d/local.list && apt-get update -q 2>&1 && apt-get install -y -q p2pvps-hello 2>&1 && p2pvps-hello && dpkg -s p2pvps-hello | grep Status',
  );
  assert.equal(install.code, 0, install.stdout + install.stderr);
  assert.match(install.stdout, /hello from a package\nStatus: install ok installed\n$/);
});

test('as root, the renter serves on port 80 and adds users', async () => {
  const web = await asRoot(
    'cd /tmp && echo served > index.html && (setsid python3 -m http.server 80 --bind 0.0.0.0 >/dev/null 2>&1 &) && ' +
      'for i in $(seq 1 50); do curl -fsS http://127.0.0.1:80/index.html 2>/dev/null && break; sleep 0.1; done',
  );
  assert.equal(web.code, 0, web.stderr);
  assert.equal(web.stdout, 'served\n');
  const user = await asRoot('useradd --create-home alice && id -un alice && stat -c %U /home/alice');
  assert.equal(user.code, 0, user.stderr);
  assert.equal(user.stdout, 'alice\nalice\n');
});

/**
 * Every way out tried here, each asserted as the renter would see it. The list (and what each
 * did) is the one the closing note cites.
 */
test("the container's root cannot reach the host: files, kernel modules, processes, the Docker socket, devices", async () => {
  // A file on the host, on the very filesystem the renter's /home lives on, one level up.
  const file = await asRoot(
    `cat /home/../host-secret.txt; ls -a /home; grep -rl ${hostSecret} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; true`,
  );
  assert.doesNotMatch(file.stdout, new RegExp(hostSecret), 'the host file is nowhere in the container');
  assert.doesNotMatch(file.stdout, /host-secret\.txt/);

  // Kernel modules: no modprobe in the image, and the system call itself is refused.
  const module = await asRoot(
    `python3 -c "import ctypes; libc = ctypes.CDLL(None, use_errno=True); r = libc.init_module(None, 0, b''); print(r, ctypes.get_errno())"; ` +
      'echo 1 > /proc/sys/kernel/modules_disabled; echo "sysctl $?"',
  );
  assert.equal(module.code, 0, module.stderr);
  assert.match(module.stdout, /^-1 1\n/, 'init_module fails with EPERM');
  assert.match(module.stdout, /sysctl [1-9]/, '/proc/sys is read-only');

  // Processes: only the container's own (sshd as PID 1, or in a prepared container the
  // entrypoint that started it and waits on it; the session), none of the host's.
  const ps = await asRoot('ps -e -o pid=,comm=');
  assert.equal(ps.code, 0, ps.stderr);
  const processes = ps.stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  // The kernel keeps 15 characters of a command's name: p2pvps-await-renter is p2pvps-await-re.
  const entrypoints = ['sshd', 'p2pvps-await-re'];
  assert.equal(processes[0]![0], '1');
  assert.ok(
    entrypoints.includes(processes[0]![1]!),
    `PID 1 is the container's sshd or the entrypoint waiting on it, not ${processes[0]![1]}`,
  );
  for (const [, comm] of processes)
    assert.ok([...entrypoints, 'bash', 'sh', 'ps', 'python3'].includes(comm!), `unexpected process ${comm}`);
  assert.ok(!processes.some(([, comm]) => /node|dockerd|containerd/.test(comm!)));

  // The Docker socket: not there, under either engine's path.
  const sock = await asRoot(
    'for s in /var/run/docker.sock /run/docker.sock /run/p2pvps-test-docker.sock; do [ -e $s ] && echo "found $s"; done; ' +
      'curl -sS --max-time 2 --unix-socket /var/run/docker.sock http://docker/info 2>&1; true',
  );
  assert.doesNotMatch(sock.stdout, /found|ServerVersion/);

  // Devices: no disk nodes, mknod refused (no MKNOD), mounting refused (no SYS_ADMIN).
  const devices = await asRoot(
    'ls /dev; mknod /tmp/sda b 8 0; echo "mknod $?"; mount /dev/sda1 /mnt; echo "mount-disk $?"; ' +
      'mount -t proc proc /mnt; echo "mount-proc $?"; mount -t tmpfs none /mnt; echo "mount-tmpfs $?"',
  );
  assert.doesNotMatch(devices.stdout, /^(sd|vd|nvme|mmcblk|loop|mem|kmsg)/m, 'no disk or memory device nodes');
  assert.match(devices.stdout, /mknod [1-9]/);
  assert.match(devices.stderr, /mknod: .*Operation not permitted/);
  assert.match(devices.stdout, /mount-disk [1-9]/);
  assert.match(devices.stdout, /mount-proc [1-9]/);
  assert.match(devices.stdout, /mount-tmpfs [1-9]/);
  assert.match(devices.stderr, /permission denied/i);

  // Changing the clock or the hostname belongs to the host (no SYS_TIME, no SYS_ADMIN).
  const system = await asRoot('date -s "2001-01-01" >/dev/null; echo "date $?"; hostname evil; echo "hostname $?"');
  assert.match(system.stdout, /date [1-9]\nhostname [1-9]\n/);
});

/** Copies a directory into the container with stock OpenSSH's scp, as a renter would. */
function scp(args: { port: number; user: string; identity: string }, from: string, to: string): Promise<SshResult> {
  const argv = ['-r', '-P', String(args.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
  argv.push('-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-i', args.identity, '-o', 'IdentitiesOnly=yes');
  argv.push(from, `${args.user}@127.0.0.1:${to}`);
  return new Promise((resolve) => {
    const child = spawn('scp', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
