import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * scripts/install-agent.sh installs into a temporary root and uninstalls, for real: the
 * code (packed from this checkout, `npm ci --omit=dev`), device-config.json from a token,
 * the systemd unit (checked with systemd-analyze), then a mounted renter storage on a
 * loop device that the uninstall must take down. What this machine shares with other
 * tests is stubbed and recorded: docker (renter containers, network and image), iptables,
 * ip and systemctl. The uninstall must leave exactly the files that were there before.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const script = join(root, 'scripts/install-agent.sh');
const isRoot = process.getuid?.() === 0;
const haveTools = ['mkfs.ext4', 'losetup', 'mountpoint'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
const skip = !isRoot ? 'needs root (loop devices, mount)' : !haveTools ? 'needs e2fsprogs and mount' : false;

let dir = '';
let calls = '';
const paths = {
  prefix: '',
  config: '',
  dataDir: '',
  unitDir: '',
};

function files(top: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(top, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(top);
  return out.filter((f) => !f.startsWith('stubs/') && !f.startsWith('calls')).sort();
}

function stub(name: string, body: string) {
  const path = join(dir, 'stubs', name);
  writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> "${calls}"\n${body}\n`);
  chmodSync(path, 0o755);
}

function attempt(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${join(dir, 'stubs')}:${process.env.PATH}`,
      TMPDIR: join(dir, 'tmp'),
      P2PVPS_DOCKER_DAEMON_JSON: join(dir, 'etc/docker/daemon.json'),
      ...env,
    },
    timeout: 300_000,
    // Not a terminal: the installer cannot ask for the token.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

function run(args: string[], env: Record<string, string> = {}) {
  const { status, output } = attempt(args, env);
  assert.equal(status, 0, `install-agent.sh ${args.join(' ')} failed:\n${output}`);
  return output;
}

/** The agent tarball as the server packs it (scripts/pack-agent.sh is deterministic), and its SHA-256. */
function packedAgent(): { path: string; sha256: string } {
  const path = join(dir, 'agent.tar.gz');
  execFileSync('bash', [join(root, 'scripts/pack-agent.sh'), path]);
  return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

const pathArgs = () => ['--prefix', paths.prefix, '--config', paths.config, '--data-dir', paths.dataDir, '--unit-dir', paths.unitDir];
const recorded = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');
let loop = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync('/tmp/p2pvps-install-test.');
  calls = join(dir, 'calls');
  paths.prefix = join(dir, 'opt/p2pvps-agent');
  paths.config = join(dir, 'etc/p2pvps/device-config.json');
  paths.dataDir = join(dir, 'var/lib/p2pvps-agent');
  paths.unitDir = join(dir, 'etc/systemd/system');
  mkdirSync(join(dir, 'stubs'));
  mkdirSync(join(dir, 'tmp'));
  // What every Debian system has already; the installer creates only what is below.
  for (const d of ['etc/systemd/system', 'etc/docker', 'opt', 'var/lib']) mkdirSync(join(dir, d), { recursive: true });
  // This machine's Docker engine already remaps containers' root (the installer's own doing).
  writeFileSync(join(dir, 'etc/docker/daemon.json'), '{ "userns-remap": "default" }\n');
  stub(
    'docker',
    `case "$1 $2" in
  "ps -aq") echo c0ffee ;;
  "volume ls") echo renter-vol ;;
esac
exit 0`,
  );
  // A chain of the agent's with Docker's jump to it, as network/isolation.ts leaves them.
  const rules = String.raw`-P FORWARD ACCEPT\n-N DOCKER-USER\n-N P2PVPS-FORWARD\n-A DOCKER-USER -i p2pvps0 -j P2PVPS-FORWARD\n`;
  for (const tool of ['iptables', 'ip6tables']) stub(tool, `[ "$1 $2 $3" = "-t filter -S" ] && printf -- '${rules}'\nexit 0`);
  stub('systemctl', 'exit 0');
  // The upload cap's ifb device exists; so does the renter network (docker stub).
  stub('ip', 'exit 0');
});

after(() => {
  if (!dir) return;
  spawnSync('umount', [join(paths.dataDir, 'renter-storage')]);
  if (loop) spawnSync('losetup', ['-d', loop]);
  rmSync(dir, { recursive: true, force: true });
});

test('install from this checkout, then uninstall leaves only the identity, and --purge leaves nothing', { skip, timeout: 600_000 }, () => {
  const before = files(dir);

  // This machine's PID 1 is not systemd (CI containers): the unit is written, not enabled.
  const tokenFile = join(dir, 'tmp', 'token');
  writeFileSync(tokenFile, 'p2pe_installtest\n', { mode: 0o600 });
  const agentCode = packedAgent();
  rmSync(agentCode.path);
  const out = run(['--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--sha256', agentCode.sha256, ...pathArgs()], {
    P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'no-systemd'),
  });
  rmSync(tokenFile);
  assert.match(out, new RegExp(`the agent code matches SHA-256 ${agentCode.sha256}`));
  assert.match(out, /systemd is not running here/);
  assert.match(out, /already maps containers' root to an unprivileged user/);
  assert.equal(recorded(), '', 'nothing shared is touched by an install on a machine that has everything');

  const config = JSON.parse(readFileSync(paths.config, 'utf8'));
  assert.deepEqual(config, { serverUrl: 'http://127.0.0.1:9', enrolmentToken: 'p2pe_installtest', dataDir: paths.dataDir });
  assert.equal(statSync(paths.config).mode & 0o777, 0o600);
  const cli = join(paths.prefix, 'packages/cli/bin/p2pvps');
  assert.ok(!existsSync(join(paths.prefix, 'node_modules/@p2pvps/server')), 'the server is not installed on a device');
  assert.ok(!existsSync(join(paths.prefix, 'node_modules/better-sqlite3')), "nor the server's dependencies");
  // npm ci ran the protocol package's postinstall: the device's ssh2 sends and takes 64 KiB packets.
  assert.match(readFileSync(join(paths.prefix, 'node_modules/ssh2/lib/Channel.js'), 'utf8'), /PACKET_SIZE = 65536; \/\/ p2pvps ssh2-patch/);
  assert.match(execFileSync(cli, ['agent', '--help'], { encoding: 'utf8' }), /Usage: p2pvps agent/);
  // The device runs the agent built into one file, without tsx.
  const agentBin = join(paths.prefix, 'packages/agent/bin/p2pvps-agent');
  assert.ok(existsSync(join(paths.prefix, 'packages/agent/dist/agent.mjs')), 'the built agent is installed');
  assert.match(execFileSync(agentBin, ['--help'], { encoding: 'utf8' }), /Usage: p2pvps agent/);

  const unit = readFileSync(join(paths.unitDir, 'p2pvps-agent.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${agentBin} --config ${paths.config}$`, 'm'));
  for (const line of [
    'Restart=on-failure',
    'Requires=docker.service',
    'Wants=network-online.target time-sync.target',
    'After=network-online.target time-sync.target docker.service',
    'RestartPreventExitStatus=78',
    'WantedBy=multi-user.target',
  ]) {
    assert.match(unit, new RegExp(`^${line}$`, 'm'));
  }
  assert.doesNotMatch(
    unit,
    /^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices)=/m,
    'no private mount namespace: dockerd must see the storage mount',
  );
  const verify = spawnSync('systemd-analyze', ['verify', join(paths.unitDir, 'p2pvps-agent.service')], { encoding: 'utf8' });
  if (verify.error === undefined) {
    // Only problems with the unit itself count; docker.service may be absent from this machine.
    const problems = verify.stderr
      .split('\n')
      .filter((l) => l.includes('p2pvps-agent.service') && !/docker\.service|Failed to connect/.test(l));
    assert.deepEqual(problems, [], verify.stderr);
  }

  // What a device has after it registered and ran a rental: state, and mounted storage.
  writeFileSync(join(paths.dataDir, 'state.json'), JSON.stringify({ registration: { deviceId: 'dev_installtest' } }));
  writeFileSync(join(paths.dataDir, 'device_ed25519_key'), 'key\n');
  const image = join(paths.dataDir, 'renter-storage.img');
  execFileSync('truncate', ['-s', '16M', image]);
  loop = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
  execFileSync('mkfs.ext4', ['-q', loop]);
  mkdirSync(join(paths.dataDir, 'renter-storage'));
  execFileSync('mount', [loop, join(paths.dataDir, 'renter-storage')]);

  // Uninstall as on a device where systemd runs (stubbed).
  mkdirSync(join(dir, 'systemd-running'));
  const gone = run(['--uninstall', '--prefix', paths.prefix], { P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'systemd-running') });
  rmSync(join(dir, 'systemd-running'), { recursive: true });
  assert.match(gone, /uninstalled/);
  const log = recorded();
  assert.match(log, /^systemctl disable --now p2pvps-agent\.service$/m);
  assert.match(log, /^systemctl daemon-reload$/m);
  assert.match(log, /^docker ps -aq --filter label=org\.p2pvps\.device=dev_installtest$/m, "only this device's containers");
  assert.match(log, /^docker rm -f -v c0ffee$/m);
  assert.match(log, /^docker volume rm -f renter-vol$/m);
  assert.match(log, /^docker image rm p2pvps\/renter:latest$/m);
  assert.match(log, /^docker network rm p2pvps-renter$/m);
  assert.match(log, /^ip link del p2pvps0-ifb$/m);
  for (const tool of ['iptables', 'ip6tables']) {
    assert.match(log, new RegExp(`^${tool} -t filter -D DOCKER-USER -i p2pvps0 -j P2PVPS-FORWARD$`, 'm'));
    assert.match(log, new RegExp(`^${tool} -t filter -X P2PVPS-FORWARD$`, 'm'));
    assert.doesNotMatch(log, new RegExp(`^${tool} -t filter -X DOCKER-USER$`, 'm'), "Docker's own chain stays");
  }
  const attached = execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();
  assert.equal(attached, '', 'the loop device is detached');
  loop = '';
  assert.equal(spawnSync('mountpoint', ['-q', join(paths.dataDir, 'renter-storage')]).status !== 0, true);

  const identity = ['etc/p2pvps/', 'etc/p2pvps/device-config.json', 'var/lib/p2pvps-agent/'];
  identity.push('var/lib/p2pvps-agent/device_ed25519_key', 'var/lib/p2pvps-agent/state.json');
  assert.deepEqual(files(dir), [...before, ...identity].sort(), 'only the identity is kept');
  assert.ok(!existsSync(paths.prefix) && !existsSync(join(paths.unitDir, 'p2pvps-agent.service')) && !existsSync(image));

  run(['--uninstall', '--purge', ...pathArgs()], { P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'no-systemd') });
  assert.deepEqual(files(dir), before, 'nothing of the agent is left');
});

test(
  "code that does not match the install command's SHA-256 is refused, and so is a token on the command line",
  { skip, timeout: 300_000 },
  () => {
    const before = files(dir);
    const agentCode = packedAgent();
    const tokenFile = join(dir, 'tmp', 'token');
    writeFileSync(tokenFile, 'p2pe_installtest\n', { mode: 0o600 });
    const wrong = 'ab'.repeat(32);
    const refused = attempt(
      ['--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--source', agentCode.path, '--sha256', wrong, ...pathArgs()],
      {
        P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'no-systemd'),
      },
    );
    assert.equal(refused.status, 1, refused.output);
    assert.match(
      refused.output,
      new RegExp(
        `p2pvps install: the agent code from ${agentCode.path} does not match the SHA-256 of the install command \\(expected ${wrong}, got ${agentCode.sha256}\\); nothing was installed\\.`,
      ),
    );
    assert.ok(!existsSync(paths.prefix) && !existsSync(paths.config), 'nothing installed');

    const inArgv = attempt(['--server', 'http://127.0.0.1:9', '--token', 'p2pe_installtest', ...pathArgs()]);
    assert.equal(inArgv.status, 2);
    assert.match(inArgv.output, /--token would show the enrolment token to every user of this machine/);
    const downloaded = attempt([
      '--server',
      'http://127.0.0.1:9',
      '--token-file',
      tokenFile,
      '--source',
      'http://127.0.0.1:9/agent.tar.gz',
      ...pathArgs(),
    ]);
    assert.equal(downloaded.status, 2);
    assert.match(downloaded.output, /--sha256 HEX is required to install code downloaded from http:\/\/127\.0\.0\.1:9\/agent\.tar\.gz/);
    const plain = attempt(['--server', 'http://0.0.0.0:9', '--token-file', tokenFile, ...pathArgs()]);
    assert.equal(plain.status, 1);
    assert.match(plain.output, /http:\/\/0\.0\.0\.0:9 is plain http to another machine/);
    rmSync(tokenFile);
    rmSync(agentCode.path);
    assert.deepEqual(files(dir), before);
  },
);

test(
  "the installer turns on user namespaces in the Docker engine's config, keeping its other settings, and restarts Docker",
  { skip, timeout: 60_000 },
  () => {
    const daemonJson = join(dir, 'tmp', 'daemon.json');
    writeFileSync(daemonJson, JSON.stringify({ 'log-driver': 'journald', 'data-root': '/srv/docker' }));
    mkdirSync(join(dir, 'systemd-running'));
    const env = { P2PVPS_DOCKER_DAEMON_JSON: daemonJson, P2PVPS_SYSTEMD_RUNTIME_DIR: join(dir, 'systemd-running') };
    try {
      writeFileSync(calls, '');
      const out = run(['--configure-docker'], env);
      assert.match(out, /turning on user namespaces in the Docker engine: "userns-remap": "default"/);
      assert.match(out, /containers you run yourself on this engine are hidden/, 'the owner is told what changes for their own containers');
      assert.match(out, /restarting Docker/);
      assert.deepEqual(JSON.parse(readFileSync(daemonJson, 'utf8')), {
        'log-driver': 'journald',
        'data-root': '/srv/docker',
        'userns-remap': 'default',
      });
      assert.match(recorded(), /^systemctl restart docker\.service$/m);

      writeFileSync(calls, '');
      assert.match(run(['--configure-docker'], env), /already maps containers' root/);
      assert.equal(recorded(), '', 'no restart when nothing changed');

      writeFileSync(daemonJson, '{ "log-driver": ');
      const broken = attempt(['--configure-docker'], env);
      assert.equal(broken.status, 1);
      assert.match(broken.output, /daemon\.json is not valid JSON .*fix it, then run this again/);
      assert.equal(readFileSync(daemonJson, 'utf8'), '{ "log-driver": ', 'a file it cannot read is left alone');
    } finally {
      rmSync(join(dir, 'systemd-running'), { recursive: true, force: true });
      rmSync(daemonJson, { force: true });
      rmSync(calls, { force: true });
    }
  },
);
