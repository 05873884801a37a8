import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach } from 'node:test';
import { deviceSigner, loadOrCreateDeviceKey, SigningClock } from '@p2pvps/agent/identity';
import { deviceAuthAudience } from '@p2pvps/protocol/device-auth';
import type { HeartbeatReply, ObservedContainer, Registration } from '@p2pvps/protocol/agent-schemas';
import { ApiClient } from '@p2pvps/protocol/client';
import { agentProtocol } from '@p2pvps/protocol/version';
import type { Device, EnrolmentTokenGrant, Hardware, Offer, Rental } from '@p2pvps/protocol/schemas';
import { loadServerConfig } from '@p2pvps/server/config';
import { ManualClock } from '@p2pvps/server/domain/clock';
import { startServer, type RunningServer } from '@p2pvps/server/services/server';
import { createTestDatabase, type TestDatabase } from '@p2pvps/server/testing/test-database';
import type { InputStream } from './context.ts';
import { run } from './run.ts';

/**
 * Runs the CLI in-process against a real p2pvps server (SQLite, tunnel gateway, HTTP
 * API) started for the test file, and captures what the user would see. Test data comes
 * from the small factories below, which go through the same API. A device is brought
 * online the way a real one is: it enrols with its own Ed25519 key and opens its tunnel
 * with stock OpenSSH. No agent runs, so its rentals stay `requested` unless a test
 * reports a container for it (`reportContainer`).
 */

/** One clock for the server and the CLI, so relative times in the output are exact. */
export const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));

export interface TestServer {
  running: RunningServer;
  /** The API URL the CLI is pointed at. */
  url: string;
  /** What the server tells devices to use (P2PVPS_PUBLIC_URL), deliberately not `url`. */
  publicUrl: string;
  /** A 127.0.0.1 port nothing listens on. */
  unusedPort: number;
  api: ApiClient;
  /** Logged in as the operator: grants renters credit. */
  operator: ApiClient;
  /** Environment for running the CLI as the operator. */
  operatorEnv: Record<string, string>;
}

const tempDirs: string[] = [];
/** Device tunnels opened by the current test; closed after it. */
const tunnels: { device: EnrolledDevice; ssh: ChildProcess }[] = [];
let server: Promise<TestServer> | undefined;
let database: TestDatabase | undefined;

afterEach(() => closeTunnels());
after(async () => {
  await closeTunnels();
  await (await server?.catch(() => undefined))?.running.close();
  await database?.drop();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory, removed when the test file finishes. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pvps-cli-test-'));
  tempDirs.push(dir);
  return dir;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createTcpServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * The server for this test file, started on first use on a temp data dir and a random
 * block of ports in 22000-30999 (http, gateway, an unused port, device SSH ports).
 */
export function testServer(): Promise<TestServer> {
  server ??= (async () => {
    for (let attempt = 0; ; attempt++) {
      const base = 22000 + randomInt(0, 90) * 100;
      const free = await Promise.all([base, base + 1, base + 2, base + 3].map(portIsFree));
      if (free.includes(false) && attempt < 20) continue;
      const dataDir = await tempDir();
      database ??= await createTestDatabase(`sqlite:${dataDir}/p2pvps.sqlite`);
      const publicUrl = `http://market.test:${base}`;
      const running = await startServer(
        loadServerConfig([], {
          P2PVPS_DATA_DIR: dataDir,
          P2PVPS_HTTP_PORT: String(base),
          P2PVPS_GATEWAY_PORT: String(base + 1),
          P2PVPS_HTTPS_PORT: String(base + 3),
          P2PVPS_SSH_PORT_RANGE: `${base + 10}-${base + 59}`,
          P2PVPS_PUBLIC_URL: publicUrl,
          P2PVPS_CURRENCY: 'EUR',
          P2PVPS_SERVER_NAME: 'test-market',
          P2PVPS_LOG_LEVEL: 'silent',
          P2PVPS_DATABASE_URL: database.url,
        }),
        { clock },
      );
      const api = new ApiClient({ baseUrl: running.apiUrl });
      const password = (await readFile(join(dataDir, 'operator-password'), 'utf8')).trim();
      const { token } = await api.call('login', { body: { email: 'admin@localhost', password } });
      return {
        running,
        url: running.apiUrl,
        publicUrl,
        unusedPort: base + 2,
        api,
        operator: api.withToken(token),
        operatorEnv: { P2PVPS_TOKEN: token },
      };
    }
  })();
  return server;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  /** Added to (and overriding) the defaults: a fresh HOME and P2PVPS_SERVER set to the test server. */
  env?: Record<string, string | undefined>;
  stdin?: string;
  stdoutIsTTY?: boolean;
  /**
   * Point the CLI at a port where nothing listens instead of the test server, for
   * commands that must fail before they call a server: if one did, the user would see
   * `server_unreachable` instead of the expected error.
   */
  offline?: boolean;
  /** Runs each time the CLI waits (polling a rental), e.g. to act as the device meanwhile. */
  whileWaiting?: () => Promise<void>;
}

let offlinePort: Promise<number> | undefined;
/** A loopback port that was free a moment ago; nothing of ours listens there. */
function closedPort(): Promise<number> {
  offlinePort ??= new Promise((resolve, reject) => {
    const probe = createTcpServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  return offlinePort;
}

/** Runs `p2pvps ARGV` in-process; waiting (`sleep`) moves the shared clock instead of the test. */
export async function runCli(argv: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const serverUrl = options.offline ? `http://127.0.0.1:${await closedPort()}` : (await testServer()).url;
  let stdout = '';
  let stderr = '';
  const stdin = Readable.from(options.stdin === undefined ? [] : [options.stdin]) as unknown as InputStream;
  const code = await run(argv, {
    env: { HOME: await tempDir(), P2PVPS_SERVER: serverUrl, ...options.env },
    io: {
      stdout: { write: (t: string) => (stdout += t), isTTY: options.stdoutIsTTY ?? false },
      stderr: { write: (t: string) => (stderr += t), isTTY: false },
      stdin,
    },
    now: () => clock.now(),
    sleep: async (ms) => {
      clock.advance(ms);
      await options.whileWaiting?.();
    },
  });
  return { code, stdout, stderr };
}

/* ---------- factories: every one goes through the real API ---------- */

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
  api: ApiClient;
  /** The environment a CLI invocation logged in as this user runs with. */
  env: { P2PVPS_TOKEN: string };
}

let userCounter = 0;
export const PASSWORD = 'correct horse battery';

/** A signed-up user with 100 USD of operator credit, so renting works. */
export async function createUser(role = 'user'): Promise<TestUser> {
  const { api, operator } = await testServer();
  const email = `${role}${++userCounter}@example.org`;
  const session = await api.call('signup', { body: { email, password: PASSWORD } });
  await operator.call('adminCredit', { body: { email, amountMicros: 100_000_000, memo: 'test credit' } });
  return {
    id: session.user.id,
    email,
    password: PASSWORD,
    token: session.token,
    api: api.withToken(session.token),
    env: { P2PVPS_TOKEN: session.token },
  };
}

export const createOwner = () => createUser('owner');
export const createRenter = () => createUser('renter');

export interface TestDevice {
  id: string;
  name: string;
  owner: TestUser;
  grant: EnrolmentTokenGrant;
}

/** A device its owner has added; it waits for its agent to enrol. */
export async function createDevice(opts: { owner: TestUser; name?: string; description?: string }): Promise<TestDevice> {
  const name = opts.name ?? 'kitchen-pi';
  const grant = await opts.owner.api.call('addDevice', {
    body: { name, ...(opts.description !== undefined ? { description: opts.description } : {}) },
  });
  return { id: grant.device.id, name, owner: opts.owner, grant };
}

export const PI4: Hardware = {
  cpuModel: 'Cortex-A72',
  cores: 4,
  memoryBytes: 4 * 2 ** 30,
  diskBytes: 32 * 2 ** 30,
  arch: 'arm64',
};

export interface EnrolledDevice extends TestDevice {
  registration: Registration;
  /** The device's private key file, for OpenSSH. */
  keyFile: string;
  /** A client that signs as the device, with the shared clock. */
  deviceApi: ApiClient;
}

/** What an agent does first: trade the enrolment token for an identity bound to a fresh key. */
export async function enrolDevice(device: TestDevice, hardware: Hardware = PI4): Promise<EnrolledDevice> {
  const { url, api } = await testServer();
  const dataDir = await tempDir();
  const key = loadOrCreateDeviceKey(dataDir);
  const registration = await api.call('agentRegister', {
    body: { enrolmentToken: device.grant.enrolmentToken, publicKey: key.publicKey, hardware, agentVersion: 'cli-test' },
  });
  return {
    ...device,
    registration,
    keyFile: join(dataDir, 'device_ed25519_key'),
    deviceApi: new ApiClient({
      baseUrl: url,
      signDevice: deviceSigner(
        registration.deviceId,
        key,
        deviceAuthAudience((await testServer()).publicUrl),
        new SigningClock(() => clock.now().getTime()),
      ),
    }),
  };
}

/**
 * Opens the device's tunnel with stock OpenSSH, as its agent would, and waits until the
 * API says it is online. The tunnel closes when the test ends.
 */
export async function bringOnline(device: EnrolledDevice): Promise<Device> {
  const { running, unusedPort } = await testServer();
  // prettier-ignore
  const ssh = spawn('ssh', [
    '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', device.keyFile, '-p', String(running.gatewayPort),
    '-R', `${device.registration.sshPort}:127.0.0.1:${unusedPort}`, `${device.id}@127.0.0.1`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ssh.stderr?.on('data', (chunk) => (stderr += chunk));
  const exited = once(ssh, 'exit');
  tunnels.push({ device, ssh });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const current = await device.owner.api.call('getDevice', { params: { deviceId: device.id } });
    if (current.online && running.gateway.isOnline(device.id)) return current;
    if (ssh.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the tunnel of device ${device.id} did not come up (ssh: ${ssh.exitCode ?? 'running'}): ${stderr}`);
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 25))]);
  }
}

/** Closes the device's tunnel and waits until the API shows it offline. */
export async function takeOffline(device: EnrolledDevice): Promise<Device> {
  await closeTunnels((t) => t.device.id === device.id);
  for (;;) {
    const current = await device.owner.api.call('getDevice', { params: { deviceId: device.id } });
    if (!current.online) return current;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function closeTunnels(which: (tunnel: (typeof tunnels)[number]) => boolean = () => true): Promise<void> {
  const closing = tunnels.filter(which);
  if (closing.length === 0) return;
  tunnels.splice(0, tunnels.length, ...tunnels.filter((t) => !closing.includes(t)));
  const { running } = await testServer();
  await Promise.all(
    closing.map(async ({ device, ssh }) => {
      if (ssh.exitCode === null && ssh.signalCode === null) {
        const exited = once(ssh, 'exit');
        ssh.kill('SIGTERM');
        await exited;
      }
      // Wait for the gateway to notice, so what follows sees the device offline.
      while (running.gateway.isOnline(device.id)) await new Promise((r) => setTimeout(r, 10));
    }),
  );
}

/** A device that is online, priced and on the market: listed. */
export async function createListedDevice(
  opts: {
    owner?: TestUser;
    name?: string;
    description?: string;
    pricePerHourMicros?: number;
    hardware?: Hardware;
    offer?: Partial<Offer>;
  } = {},
): Promise<EnrolledDevice> {
  const owner = opts.owner ?? (await createOwner());
  const added = await createDevice({
    owner,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
  });
  const device = await enrolDevice(added, opts.hardware);
  await bringOnline(device);
  await owner.api.call('updateDevice', {
    params: { deviceId: device.id },
    body: { pricePerHourMicros: opts.pricePerHourMicros ?? 50_000, onMarket: true, ...(opts.offer ? { offer: opts.offer } : {}) },
  });
  return device;
}

export async function createRental(opts: {
  renter: TestUser;
  device: { id: string };
  sshPublicKey?: string;
  hours?: number;
}): Promise<Rental> {
  return opts.renter.api.call('rent', {
    body: {
      deviceId: opts.device.id,
      ...(opts.sshPublicKey !== undefined ? { sshPublicKey: opts.sshPublicKey } : {}),
      ...(opts.hours !== undefined ? { hours: opts.hours } : {}),
    },
  });
}

/** A heartbeat from the device, telling the server what container it runs (null: none, wiped). */
export function reportContainer(device: EnrolledDevice, container: ObservedContainer | null): Promise<HeartbeatReply> {
  return device.deviceApi.call('agentHeartbeat', { body: { container, agentProtocol } });
}
