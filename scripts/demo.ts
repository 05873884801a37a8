/**
 * The quick start's first command, after scripts/setup.sh has installed what is missing:
 * starts the server and a local agent as background processes, enrols the agent as a
 * device of a demo owner, prices it and puts it on the market, and logs the CLI in as a
 * demo renter. Running it again reuses what is already there.
 */
import { operatorClient } from '@p2pvps/server/services/operator-client';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const dir = join(root, '.data/demo');
const cli = join(root, 'packages/cli/bin/p2pvps');
const httpPort = process.env.P2PVPS_HTTP_PORT ?? '8080';
const gatewayPort = process.env.P2PVPS_GATEWAY_PORT ?? '2222';
/**
 * The network namespace of the demo's agent and Docker engine (scripts/setup.sh makes it):
 * user namespaces give the renter root but rule out host networking, and the engine's
 * bridge must stay off this machine's own network. The agent reaches the server here through
 * scripts/netns-relay.ts. Unset (the script run by hand): the machine's engine, host networking.
 */
const netns = process.env.P2PVPS_DEMO_NETNS;
const apiUrl = `http://127.0.0.1:${httpPort}`;
const api = new ApiClient({ baseUrl: apiUrl, timeoutMs: 5_000 });
const pidFile = (name: string) => join(dir, `${name}.pid`);

function running(name: string): number | null {
  if (!existsSync(pidFile(name))) return null;
  const pid = Number(readFileSync(pidFile(name), 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function startDaemon(name: string, args: string[], env: Record<string, string>, command = cli): void {
  if (running(name)) return void console.log(`    ${name} already running (pid ${running(name)})`);
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  writeFileSync(pidFile(name), String(child.pid));
  child.unref();
  console.log(`    ${name} started (pid ${child.pid}, log ${join(dir, `${name}.log`)})`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let dots = 0;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => null);
    if (v) {
      if (dots) process.stdout.write('\n');
      return v;
    }
    if (++dots % 4 === 0) process.stdout.write('.');
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; see the logs in ${dir}`);
}

async function account(email: string, file: string): Promise<{ client: ApiClient; token: string }> {
  const path = join(dir, file);
  const password = existsSync(path) ? readFileSync(path, 'utf8').trim() : `demo-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  writeFileSync(path, password, { mode: 0o600 });
  let token: string;
  try {
    token = (await api.call('signup', { body: { email, password } })).token;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'email_taken')) throw err;
    token = (await api.call('login', { body: { email, password } })).token;
  }
  return { client: api.withToken(token), token };
}

async function start(): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  console.log('\x1b[1m==> starting the marketplace server\x1b[0m');
  startDaemon('server', ['server', '--data-dir', join(dir, 'server'), '--http-port', httpPort], {});
  await waitFor('the server', () => api.call('serverInfo'));

  const { client: owner } = await account('owner@demo.local', 'owner-password');
  const agentConfig = join(dir, 'agent/device-config.json');
  let { devices } = await owner.call('listDevices');
  let device = devices.find((d) => d.name === 'demo-device');
  if (!device || !existsSync(agentConfig)) {
    if (device) await owner.call('removeDevice', { params: { deviceId: device.id } });
    console.log('\x1b[1m==> adding a device and enrolling the local agent\x1b[0m');
    const grant = await owner.call('addDevice', {
      body: { name: 'demo-device', description: 'This machine, through the local Docker engine' },
    });
    rmSync(join(dir, 'agent'), { recursive: true, force: true });
    mkdirSync(join(dir, 'agent'), { recursive: true, mode: 0o700 });
    writeFileSync(
      agentConfig,
      JSON.stringify({ serverUrl: apiUrl, enrolmentToken: grant.enrolmentToken, dataDir: join(dir, 'agent') }, null, 2),
      { mode: 0o600 },
    );
    device = grant.device;
  }
  console.log('\x1b[1m==> starting the device agent\x1b[0m');
  const containerSshPort = { P2PVPS_CONTAINER_SSH_PORT: process.env.P2PVPS_CONTAINER_SSH_PORT ?? '22022' };
  if (netns) {
    const netnsPath = `/var/run/netns/${netns}`;
    startDaemon('relay', ['--import', 'tsx', join(root, 'scripts/netns-relay.ts'), netnsPath, httpPort, gatewayPort], {}, process.execPath);
    // nsenter runs the agent in the namespace in its own place (no fork): the pid is the agent's.
    startDaemon(
      'agent',
      [`--net=${netnsPath}`, cli, 'agent', '--config', agentConfig],
      { ...containerSshPort, P2PVPS_DOCKER_SOCKET: process.env.P2PVPS_DEMO_DOCKER_SOCKET!, P2PVPS_CONTAINER_NETWORK: 'bridge' },
      'nsenter',
    );
  } else startDaemon('agent', ['agent', '--config', agentConfig], containerSshPort);
  const deviceId = device.id;
  await waitFor('the device to come online', async () => (await owner.call('getDevice', { params: { deviceId } })).online);
  await owner.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 20_000, onMarket: true } });

  const { token } = await account('renter@demo.local', 'renter-password');
  // Operator credit is the payment rail that needs no outside service: the demo renter gets 20 USD once.
  const operator = await operatorClient(apiUrl, join(dir, 'server'));
  const { balanceMicros } = await new ApiClient({ baseUrl: apiUrl }).withToken(token).call('getBalance');
  if (balanceMicros < 1_000_000)
    await operator.call('adminCredit', { body: { email: 'renter@demo.local', amountMicros: 20_000_000, memo: 'demo credit' } });
  const cliConfig = process.env.P2PVPS_CLI_CONFIG ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'p2pvps/cli.json');
  mkdirSync(dirname(cliConfig), { recursive: true, mode: 0o700 });
  writeFileSync(cliConfig, JSON.stringify({ server: apiUrl, token }, null, 2), { mode: 0o600 });

  const p2pvps = 'packages/cli/bin/p2pvps';
  console.log(`
\x1b[1mp2pvps is up.\x1b[0m
  Dashboard:        ${apiUrl}/  (renter@demo.local, password in ${join(dir, 'renter-password')}; owner@demo.local, ${join(dir, 'owner-password')})
  API and OpenAPI:  ${apiUrl}/api/v1/openapi.json
  Device:           demo-device (${deviceId}), online and listed at 0.02 USD/hour
  CLI:              logged in as renter@demo.local (${cliConfig})
  Operator:         admin@localhost, password in ${join(dir, 'server/operator-password')}

${
  netns
    ? `Root: a renter is root in the container (ssh root@… with the rental's key, or sudo), and an
  unprivileged user on this machine: the demo's Docker engine remaps users and lives in the
  network namespace ${netns} with the agent.`
    : `Root: this device runs renter containers on this machine's own Docker engine with host
  networking, where user namespaces cannot be used, so a renter gets an ordinary account
  (no root, no sudo). scripts/demo runs the device in a network namespace where renters are root.`
}

Rent the device and log in with OpenSSH:
  ${p2pvps} market
  ${p2pvps} rent ${deviceId} --wait            # add --ssh-key ~/.ssh/id_ed25519.pub to log in by key
  ${p2pvps} ssh RENTAL_ID                      # or the printed ssh -p PORT USER@127.0.0.1 with the password
  ${p2pvps} stop RENTAL_ID                     # destroys and wipes the container; the device is listed again

Serve a web site from the rented container (any server on port $P2PVPS_HTTP_PORT inside it):
  ${p2pvps} ssh RENTAL_ID -- 'echo hi > index.html; setsid nohup python3 -m http.server $P2PVPS_HTTP_PORT >/dev/null 2>&1 &'
  curl http://WEB_NAME:${httpPort}/   # WEB_NAME: from the rental's Web line (a fresh name per rental); HTTPS: SNI passthrough on :8443

Logs: ${dir}/server.log, ${dir}/agent.log${netns ? `, ${dir}/relay.log` : ''}     Stop everything: scripts/demo stop`);
}

async function stop(): Promise<void> {
  for (const name of ['agent', 'relay', 'server']) {
    const pid = running(name);
    if (!pid) {
      console.log(`${name}: not running`);
      continue;
    }
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && running(name); i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`${name}: stopped`);
    rmSync(pidFile(name), { force: true });
  }
  // The agent keeps a container prepared for the next rental; stopped, it no longer
  // hands it over, so stopping the demo removes it (a rented one stays: its renter's).
  const socket = `unix://${process.env.P2PVPS_DEMO_DOCKER_SOCKET ?? '/run/p2pvps-demo-docker.sock'}`;
  const listed = spawnSync(
    'docker',
    ['-H', socket, 'ps', '-aq', '--filter', 'label=org.p2pvps.prepared=true', '--filter', 'name=-prepared-'],
    {
      encoding: 'utf8',
    },
  );
  const prepared = listed.status === 0 ? listed.stdout.split('\n').filter(Boolean) : [];
  if (prepared.length > 0) {
    const rm = spawnSync('docker', ['-H', socket, 'rm', '-f', ...prepared], { encoding: 'utf8' });
    console.log(rm.status === 0 ? `prepared container: removed` : `prepared container: not removed (${rm.stderr.trim()})`);
  }
  // The agent leaves the renter storage mounted on purpose (a restarted agent resumes a
  // rental on it); stopping the demo lets it go, unless a rental's container still uses it.
  const storage = storageMountDir(join(dir, 'agent'));
  if (
    readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[1] === storage)
  ) {
    const umount = spawnSync('umount', [storage], { encoding: 'utf8' });
    console.log(umount.status === 0 ? 'renter storage: unmounted' : `renter storage: still mounted (${umount.stderr.trim()})`);
  }
}

const command = process.argv[2] ?? 'start';
if (command === 'stop') await stop();
else if (command === 'status')
  for (const n of ['server', 'relay', 'agent']) console.log(`${n}: ${running(n) ? `running (pid ${running(n)})` : 'not running'}`);
else
  await start().catch((err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  });
