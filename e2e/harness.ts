import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { ApiClient } from '@p2pvps/protocol/client';
import { Agent, type AgentSideEffects } from '@p2pvps/agent/agent';
import { loadAgentConfig } from '@p2pvps/agent/config';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { loadServerConfig } from '@p2pvps/server/config';
import { operatorClient } from '@p2pvps/server/services/operator-client';
import type { Clock } from '@p2pvps/server/domain/clock';
import { startServer, type RunningServer } from '@p2pvps/server/services/server';
import { createTestDatabase } from '@p2pvps/server/testing/test-database';
import { portBlock } from '@p2pvps/server/testing/port-blocks';

// A free block of loopback ports, reserved for this test process (packages/server/src/testing/port-blocks.ts).
export { portBlock };
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import Docker from 'dockerode';
import type { Rental } from '@p2pvps/protocol/schemas';

/**
 * Builds a whole marketplace for a test: a real server (SQLite, gateway, API) and real
 * agents on the real Docker engine. Under scripts/test that is the tests' engine inside the
 * network namespace p2pvps-test (scripts/setup.sh), where renter containers take the
 * production path: the renter bridge, ports published on 127.0.0.1, the isolation chains,
 * root remapped by user namespaces. Elsewhere (P2PVPS_CONTAINER_NETWORK=host) they share
 * the host's network on loopback ports. Either way tests never touch a private-range
 * address outside a namespace of their own.
 */

export const dockerSocket = process.env.P2PVPS_DOCKER_SOCKET ?? '/var/run/docker.sock';
export const docker = new Docker({ socketPath: dockerSocket });
export const renterImage = process.env.P2PVPS_RENTER_IMAGE ?? 'p2pvps/renter:latest';
/** How renter containers are networked on the tests' engine: scripts/test says bridge. */
export const containerNetwork: 'bridge' | 'host' = process.env.P2PVPS_CONTAINER_NETWORK === 'bridge' ? 'bridge' : 'host';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `p2pvps-${prefix}-`));
}

export interface TestServer {
  running: RunningServer;
  api: ApiClient;
  dataDir: string;
  httpPort: number;
  gatewayPort: number;
  /** Logged in as the operator on first use (it grants users credit). */
  operator?: Promise<ApiClient>;
  restart(): Promise<void>;
  /** Stops the server, keeping its data, until `up()`: the device's server is away. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function createServer(
  opts: {
    portRangeSize?: number;
    env?: Record<string, string>;
    clock?: Clock;
    /** The first of its 100 ports; a random block unless given (several servers in one test take distinct blocks). */
    portBase?: number;
    /** Where the server's log lines go (a test that reads them); the default logger otherwise. */
    logStream?: { write(line: string): void };
  } = {},
): Promise<TestServer> {
  const dataDir = tempDir('server');
  const database = await createTestDatabase(`sqlite:${dataDir}/p2pvps.sqlite`);
  const base = opts.portBase ?? portBlock(100);
  const httpPort = base;
  const gatewayPort = base + 1;
  const config = loadServerConfig([], {
    P2PVPS_DATA_DIR: dataDir,
    P2PVPS_HTTP_PORT: String(httpPort),
    P2PVPS_GATEWAY_PORT: String(gatewayPort),
    P2PVPS_HTTPS_PORT: String(base + 2),
    P2PVPS_SSH_PORT_RANGE: `${base + 10}-${base + 10 + (opts.portRangeSize ?? 20) - 1}`,
    P2PVPS_LOG_LEVEL: process.env.P2PVPS_TEST_LOG ?? 'warn',
    P2PVPS_EXPIRY_CHECK_INTERVAL_MS: '200',
    // Benchmarks (seconds of CPU and a memory probe per device) only where a test asks for them.
    P2PVPS_BENCHMARK_INTERVAL_HOURS: '0',
    P2PVPS_DATABASE_URL: database.url,
    ...opts.env,
  });
  const server: TestServer = {
    running: await startServer(config, { clock: opts.clock, ...(opts.logStream ? { logStream: opts.logStream } : {}) }),
    api: new ApiClient({ baseUrl: `http://127.0.0.1:${httpPort}` }),
    dataDir,
    httpPort,
    gatewayPort,
    async restart() {
      await server.running.close();
      server.running = await startServer(config, { clock: opts.clock, ...(opts.logStream ? { logStream: opts.logStream } : {}) });
    },
    async down() {
      await server.running.close();
    },
    async up() {
      server.running = await startServer(config, { clock: opts.clock, ...(opts.logStream ? { logStream: opts.logStream } : {}) });
    },
    async stop() {
      await server.running.close();
      rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    },
  };
  return server;
}

let userCounter = 0;
/** A signed-up user with `creditMicros` (100 USD unless said otherwise) granted by the operator, so renting works. */
export async function createUser(
  server: TestServer,
  role: string,
  creditMicros = 100_000_000,
): Promise<{ api: ApiClient; email: string; id: string }> {
  const email = `${role}${++userCounter}-${randomInt(1e9)}@example.org`;
  const session = await server.api.call('signup', { body: { email, password: 'correct horse battery' } });
  if (creditMicros !== 0) {
    server.operator ??= operatorClient(`http://127.0.0.1:${server.httpPort}`, server.dataDir);
    await (await server.operator).call('adminCredit', { body: { email, amountMicros: creditMicros, memo: 'test credit' } });
  }
  return { api: server.api.withToken(session.token), email, id: session.user.id };
}

export interface TestAgent {
  agent: Agent;
  dataDir: string;
  /** Loopback ports of the container's sshd, port 80 and port 443 (published, or its own with host networking). */
  containerSshPort: number;
  containerHttpPort: number;
  containerHttpsPort: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

const agents: TestAgent[] = [];

/**
 * A real agent for the device. Its renter storage is a small image file unless `storage`
 * (device-config.json's "storage") says otherwise; removeDeviceContainers unmounts it.
 */
export async function createAgent(
  server: TestServer,
  enrolmentToken: string,
  opts: {
    storage?: object;
    wipe?: 'discard' | 'overwrite';
    dockerSocket?: string;
    effects?: AgentSideEffects;
    /** The server URL the agent uses (a proxy in front of the server, say); the server's own by default. */
    serverUrl?: string;
    /** The loopback port of the container's sshd; port 80 and 443 follow it. A fresh block by default. */
    containerSshPort?: number;
    /** The engine's container networking; the tests' engine's (containerNetwork) by default. */
    network?: 'bridge' | 'host';
    /** Options of device-config.json besides these (prepareContainer, say). */
    deviceConfig?: Record<string, unknown>;
    /** The agent to run: another tree's Agent class (bench/rent-to-ssh.ts runs the code before a change beside it). */
    agentClass?: typeof Agent;
    /** Sees every log line of the agent (a test that reads them). */
    log?: (level: string, msg: string) => void;
  } = {},
): Promise<TestAgent> {
  const dataDir = tempDir('agent');
  const configFile = join(dataDir, 'device-config.json');
  const containerSshPort = opts.containerSshPort ?? portBlock(3);
  const [containerHttpPort, containerHttpsPort] = [containerSshPort + 1, containerSshPort + 2];
  const storage = opts.storage ?? { kind: 'image', sizeMiB: 64 };
  writeFileSync(
    configFile,
    JSON.stringify({
      serverUrl: opts.serverUrl ?? `http://127.0.0.1:${server.httpPort}`,
      enrolmentToken,
      dataDir,
      storage,
      wipe: opts.wipe ?? 'discard',
      ...opts.deviceConfig,
    }),
  );
  const config = loadAgentConfig(['--config', configFile], {
    P2PVPS_CONTAINER_NETWORK: opts.network ?? containerNetwork,
    P2PVPS_CONTAINER_SSH_PORT: String(containerSshPort),
    P2PVPS_CONTAINER_HTTP_PORT: String(containerHttpPort),
    P2PVPS_CONTAINER_HTTPS_PORT: String(containerHttpsPort),
    P2PVPS_RENTER_IMAGE: renterImage,
    // The tests' engine unless the test brings its own: never the machine's by accident.
    P2PVPS_DOCKER_SOCKET: opts.dockerSocket ?? dockerSocket,
  });
  const log = (level: string, msg: string) => {
    opts.log?.(level, msg);
    if (process.env.P2PVPS_TEST_LOG === 'debug' || level === 'error') console.error(`[agent ${level}] ${msg}`);
  };
  const AgentClass = opts.agentClass ?? Agent;
  const handle: TestAgent = {
    agent: new AgentClass(config, log, opts.effects),
    dataDir,
    containerSshPort,
    containerHttpPort,
    containerHttpsPort,
    async stop() {
      await handle.agent.close();
    },
    async restart() {
      await handle.agent.close();
      handle.agent = new AgentClass(config, log, opts.effects);
      await handle.agent.start();
    },
  };
  agents.push(handle);
  await handle.agent.start();
  return handle;
}

/** Removes every container and volume a test's device left behind, and unmounts its agent's renter storage. */
export async function removeDeviceContainers(deviceId: string | undefined): Promise<void> {
  if (!deviceId) return;
  const filters = { label: [`org.p2pvps.device=${deviceId}`] };
  for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true, v: true });
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) await docker.getVolume(v.Name).remove({ force: true });
  for (const a of agents.filter((h) => h.agent.deviceId === deviceId)) {
    await a.agent.close();
    spawnSync('umount', [storageMountDir(a.dataDir)]);
    rmSync(join(a.dataDir, 'renter-storage.img'), { force: true });
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}

/** A renter's SSH key pair on disk, for stock OpenSSH. */
export function createSshKey(): { privatePath: string; publicKey: string } {
  const dir = tempDir('key');
  const pair = generateEd25519KeyPair('renter@test');
  const privatePath = join(dir, 'id_ed25519');
  writeFileSync(privatePath, pair.private, { mode: 0o600 });
  writeFileSync(`${privatePath}.pub`, pair.public);
  return { privatePath, publicKey: pair.public };
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command through the system's OpenSSH client, as a renter would. */
/** Stock OpenSSH's arguments for one command, non-interactive, trusting any host key (test containers make theirs anew). */
export function sshArgv(args: { port: number; user: string; identity?: string; host?: string }, command: string): string[] {
  return [
    '-p',
    String(args.port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    ...(args.identity ? ['-i', args.identity, '-o', 'IdentitiesOnly=yes'] : []),
    `${args.user}@${args.host ?? '127.0.0.1'}`,
    command,
  ];
}

export function openSsh(
  args: { port: number; user: string; identity?: string; host?: string },
  command: string,
  timeoutMs = 20_000,
): Promise<SshResult> {
  const argv = sshArgv(args, command);
  return new Promise((resolve) => {
    const child = spawn('ssh', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function dockerAvailable(): boolean {
  return spawnSync('docker', ['-H', `unix://${dockerSocket}`, 'info'], { stdio: 'ignore' }).status === 0;
}

export interface RentedDevice {
  deviceId: string;
  agent: TestAgent;
  rental: Rental;
  /** ssh arguments for openSsh as the rental's user, with the renter's key. */
  ssh: { port: number; user: string; identity: string };
}

/**
 * An owner's device enrolled through a real agent, online, priced, listed, and rented by
 * `renter` with a fresh key, its container answering ssh.
 */
export async function createRentedDevice(
  server: TestServer,
  owner: { api: ApiClient },
  renter: { api: ApiClient },
  name = 'pi',
  agentOpts: Parameters<typeof createAgent>[2] = {},
): Promise<RentedDevice> {
  const grant = await owner.api.call('addDevice', { body: { name } });
  const deviceId = grant.device.id;
  const agent = await createAgent(server, grant.enrolmentToken, agentOpts);
  await waitFor(`${name} to come online`, async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
  await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 10_000, onMarket: true } });
  const key = createSshKey();
  const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
  const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
  await waitFor(`ssh into ${name}`, async () => (await openSsh(ssh, 'true')).code === 0);
  await waitFor(
    `${name}'s rental to be active`,
    async () => (await renter.api.call('getRental', { params: { rentalId: rental.id } })).state === 'active',
  );
  return { deviceId, agent, rental, ssh };
}

/**
 * The containers of a rental: labelled with it when started for it, or named for it when
 * a prepared container was handed over (docker/renter-containers.ts, handOver).
 */
export async function rentalContainers(rentalId: string, engine: Docker = docker, all = true): Promise<Docker.ContainerInfo[]> {
  const found = await engine.listContainers({ all, filters: { label: ['org.p2pvps.device'] } });
  return found.filter((c) => c.Labels['org.p2pvps.rental'] === rentalId || c.Names.some((n) => n.endsWith(`-${rentalId}`)));
}

/** Runs a command (curl, openssl…) with `input` on its stdin, killed after 15 s; never rejects. */
export function runCommand(cmd: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** What went wrong on server nodes a test ran as processes (their error and fatal log lines), shown with the test's output. */
export function printNodeErrors(nodes: { id: string; log: string[] }[]): void {
  for (const node of nodes) {
    const errors = node.log
      .join('')
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    if (errors.length) console.error(`${node.id}:\n${errors.join('\n')}`);
  }
}
