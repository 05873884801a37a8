import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { checkRuntime, RuntimeUnavailable } from '@p2pvps/agent/docker/container-runtime';
import { createSshKey, docker, renterImage, sshArgv, tempDir, waitFor } from './harness.ts';
import { NetnsDockerEngine } from './netns-engine.ts';

/**
 * The owner's choice of gVisor (`"runtime": "runsc"` in device-config.json) on a real
 * engine: one in a network namespace of the test's own, with userns-remap as
 * install-agent.sh sets it up, and runsc registered exactly as install-agent.sh --gvisor
 * registers it (scripts/configure-gvisor.sh writes the daemon.json used here).
 */

const root = new URL('../', import.meta.url).pathname;
const sshPort = 22022;

function sshArgs(identity: string, user: string, command: string): string[] {
  return sshArgv({ port: sshPort, user, identity }, command);
}

test(
  "under runsc a rental runs on gVisor's kernel within its memory limit, and the renter logs in with stock ssh through the published port",
  { timeout: 600_000 },
  async (t) => {
    const configDir = tempDir('gvisor');
    const daemonJson = join(configDir, 'daemon.json');
    const configured = spawnSync('bash', [join(root, 'scripts/configure-gvisor.sh'), '--daemon-json', daemonJson, '--no-reload'], {
      encoding: 'utf8',
    });
    assert.equal(configured.status, 0, configured.stderr);

    const engine = new NetnsDockerEngine({ usernsRemap: true, daemonJson: JSON.parse(readFileSync(daemonJson, 'utf8')) });
    t.after(() => engine.destroy());
    await engine.start();
    await engine.loadRenterImage();

    const key = createSshKey();
    // Like the renter storage's root: sshd reads the renter's authorized_keys as the renter.
    const homeDir = tempDir('gvisor-home');
    chmodSync(homeDir, 0o755);
    const rental = {
      rentalId: 'r-gvisor-1',
      username: 'gvrenter',
      passwordHash: '$6$unused$unused',
      authorizedKey: key.publicKey,
      expiresAt: null,
    };
    const started = await engine.exec(
      'node',
      [
        '--import',
        'tsx',
        join(root, 'e2e/start-rental-in-netns.ts'),
        JSON.stringify({
          socket: engine.socket,
          image: renterImage,
          runtime: 'runsc',
          deviceId: 'dev-gvisor',
          sshPort,
          homeDir,
          limits: { cpus: 1, memoryMb: 512, pidsLimit: 256 },
          rental,
        }),
      ],
      { cwd: root },
    );
    assert.equal(started.code, 0, `the rental did not start: ${started.stderr}\n${engine.logTail()}`);
    const { id, runtime } = JSON.parse(started.stdout.trim().split('\n').pop()!);
    assert.deepEqual(runtime, { runtime: 'runsc', usernsRemap: true });
    const info = await engine.docker.getContainer(id).inspect();
    assert.equal(info.HostConfig.Runtime, 'runsc');
    // Debian's runsc cannot start a networked sandbox in Docker's user namespace: the container opts out.
    assert.equal(info.HostConfig.UsernsMode, 'host');

    const login = await engine.exec(
      'ssh',
      sshArgs(key.privatePath, rental.username, 'id -un; uname -r; dmesg | head -1; free -m | sed -n 2p'),
    );
    assert.equal(login.code, 0, `stock ssh could not log in: ${login.stderr}`);
    const [user, kernel, dmesg, mem] = login.stdout.trim().split('\n');
    assert.equal(user, rental.username);
    // gVisor reports its own kernel, not the device's.
    assert.notEqual(kernel, release());
    assert.match(dmesg ?? '', /Starting gVisor/);
    // gVisor sizes its memory from the container's limit.
    assert.equal(Number((mem ?? '').split(/\s+/)[1]), 512);

    // The limit holds: taking more than 512 MiB is stopped by the host's memory cgroup. Under
    // gVisor that ends the whole sandbox (the session drops), and Docker starts it again.
    const greedy = await engine.exec(
      'ssh',
      sshArgs(
        key.privatePath,
        rental.username,
        'python3 -c "\nb = []\nfor i in range(12):\n    b.append(bytearray(64 << 20)); print((i + 1) * 64, flush=True)\n"',
      ),
    );
    const reached = Math.max(0, ...greedy.stdout.trim().split('\n').filter(Boolean).map(Number));
    assert.ok(reached < 512, `the renter allocated ${reached} MiB in a 512 MiB container`);
    await waitFor(
      'the container to come back after the OOM kill',
      async () => {
        const again = await engine.exec('ssh', sshArgs(key.privatePath, rental.username, 'dmesg | head -1'));
        return again.code === 0 && /Starting gVisor/.test(again.stdout);
      },
      60_000,
      500,
    );
    const after = await engine.docker.getContainer(id).inspect();
    assert.ok(after.RestartCount >= 1, 'Docker restarted the sandbox the OOM kill ended');
  },
);

test('an agent set to runsc on an engine without it refuses to start, naming what the engine has and how to add gVisor', async () => {
  // The shared test engine (scripts/setup.sh) has no runsc registered.
  await assert.rejects(checkRuntime(docker, 'runsc'), (err: Error) => {
    assert.ok(err instanceof RuntimeUnavailable);
    assert.match(err.message, /no runtime of that name \(it has: [^)]*runc/);
    assert.match(err.message, /configure-gvisor\.sh/);
    assert.match(err.message, /"runtime": "runc"/);
    return true;
  });
  assert.equal((await checkRuntime(docker, 'runc')).runtime, 'runc');
});

test("configure-gvisor.sh (install-agent.sh --gvisor) registers runsc beside the engine's other settings and switches the agent to it", () => {
  const dir = tempDir('gvisor-config');
  const daemonJson = join(dir, 'daemon.json');
  const agentConfig = join(dir, 'device-config.json');
  writeFileSync(daemonJson, JSON.stringify({ 'userns-remap': 'default', 'log-driver': 'json-file' }));
  writeFileSync(agentConfig, JSON.stringify({ serverUrl: 'https://market.example.org', enrolmentToken: 'p2pe_x' }), { mode: 0o600 });
  const r = spawnSync('bash', [join(root, 'scripts/configure-gvisor.sh'), '--daemon-json', daemonJson, '--agent-config', agentConfig], {
    encoding: 'utf8',
    env: { ...process.env, P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'no-systemd') },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /reload the Docker engine yourself/);
  assert.deepEqual(JSON.parse(readFileSync(daemonJson, 'utf8')), {
    'userns-remap': 'default',
    'log-driver': 'json-file',
    runtimes: { runsc: { path: '/usr/bin/runsc', runtimeArgs: ['--platform=ptrace', '--network=host'] } },
  });
  assert.deepEqual(JSON.parse(readFileSync(agentConfig, 'utf8')), {
    serverUrl: 'https://market.example.org',
    enrolmentToken: 'p2pe_x',
    runtime: 'runsc',
  });
  assert.equal(statSync(agentConfig).mode & 0o777, 0o600, 'the config keeps its mode: it holds the enrolment token');
});
