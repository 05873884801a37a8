import { operatorClient } from '@p2pvps/server/services/operator-client';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { ApiClient } from '@p2pvps/protocol/client';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import type { TunnelCipherChoice } from '@p2pvps/agent/tunnel-cipher';
import type { FromDevice, ToDevice } from './device-process.ts';
import { message, type Processes } from './processes.ts';
import { sleep } from './net.ts';
import type { LoopDelayResult } from './loop-delay.ts';

export interface P2pvpsPorts {
  /** API and HTTP front door. */
  http: number;
  https: number;
  gateway: number;
  /** The one public port the server may hand the device. */
  device: number;
}

export interface P2pvps {
  /** The device's public port on the server (what `ssh -p` of a renter reaches). */
  devicePort: number;
  /** The device's name on the HTTP front door, e.g. `quiet-otter.vps.localhost`. */
  webHost: string;
  frontDoorPort: number;
  /** The server's and the device's process IDs. */
  pids: number[];
  serverPid: number;
  devicePid: number;
  /**
   * Starts a new tunnel client on the device, its SSH port now leading to `localPort` (the
   * bench measures from here), offering `cipher` first (default: as the agent chooses).
   */
  restartTunnel(localPort: number, cipher?: TunnelCipherChoice): void;
  /** Stops the device's tunnel client and waits until it has. */
  stopTunnel(): Promise<void>;
  /** Resolves at the device's next "tunnel up", with the cipher it negotiated. */
  nextUp(): Promise<{ cipher: string }>;
  /** Key exchange and cipher the tunnel client and gateway agreed on. */
  negotiated: Promise<{ kex: string; cipher: string }>;
  /** Starts a window of event-loop delay in the server and the device (bench/tunnel/loop-delay.ts). */
  startLoopDelay(): void;
  /** Ends the window: each process's loop delay over it. */
  stopLoopDelay(): Promise<{ server: LoopDelayResult; device: LoopDelayResult }>;
  stop(): Promise<void>;
}

/**
 * The real p2pvps server in one process and a device in another, enrolled, online, listed
 * and rented through the API as users do, so that its web name routes through the front
 * door. The device's SSH port leads to `originPort`, its port 80 to `httpOriginPort`.
 * With `cpuProfileDir`, both processes write V8 CPU profiles there on exit.
 */
export async function startP2pvps(
  processes: Processes,
  ports: P2pvpsPorts,
  originPort: number,
  httpOriginPort: number,
  cpuProfileDir?: string,
): Promise<P2pvps> {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-server-'));
  // BENCH_NODE_ARGS: more flags for both processes, e.g. --trace-gc.
  const nodeFlags = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const profile = [...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []), ...nodeFlags];
  const serverEnv = {
    P2PVPS_DATA_DIR: dataDir,
    P2PVPS_HTTP_HOST: '127.0.0.1',
    P2PVPS_HTTP_PORT: String(ports.http),
    P2PVPS_HTTPS_PORT: String(ports.https),
    P2PVPS_GATEWAY_HOST: '127.0.0.1',
    P2PVPS_GATEWAY_PORT: String(ports.gateway),
    P2PVPS_PUBLIC_BIND_HOST: '127.0.0.1',
    P2PVPS_SSH_HOST: '127.0.0.1',
    P2PVPS_SSH_PORT_RANGE: `${ports.device}-${ports.device}`,
    P2PVPS_LOG_LEVEL: 'error',
    // wrk's connections all come from 127.0.0.1: the per-source caps would measure fairness, not the tunnel.
    P2PVPS_MAX_CONNECTIONS_PER_ADDRESS: '10000',
    P2PVPS_MAX_CONNECTIONS_PER_DEVICE_ADDRESS: '10000',
  };
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    for (const child of children.reverse()) await processes.stop(child, 5_000);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const server = processes.fork(
      new URL('./server-process.ts', import.meta.url),
      { BENCH_SERVER_ENV: JSON.stringify(serverEnv) },
      profile,
    );
    children.push(server);
    const { apiUrl } = await message<{ type: 'ready'; apiUrl: string }>(server, 'ready');
    const device = processes.fork(new URL('./device-process.ts', import.meta.url), {}, profile);
    children.push(device);
    const tell = (m: ToDevice) => device.send(m);
    const reply = <K extends FromDevice['type']>(type: K, timeoutMs?: number) =>
      message<Extract<FromDevice, { type: K }>>(device, type, timeoutMs);

    const api = new ApiClient({ baseUrl: apiUrl, fetch: fetchWithoutKeepAlive });
    const owner = api.withToken(
      (await api.call('signup', { body: { email: 'owner@bench.test', password: 'correct horse battery' } })).token,
    );
    const renter = api.withToken(
      (await api.call('signup', { body: { email: 'renter@bench.test', password: 'correct horse battery' } })).token,
    );
    const operator = await operatorClient(apiUrl, dataDir);
    await operator.call('adminCredit', { body: { email: 'renter@bench.test', amountMicros: 100_000_000 } });
    const grant = await owner.call('addDevice', { body: { name: 'bench' } });
    const deviceId = grant.device.id;

    const registered = reply('registered');
    tell({ type: 'register', apiUrl, enrolmentToken: grant.enrolmentToken });
    const { registration } = await registered;
    const start: ToDevice = { type: 'start', localPort: originPort, webPorts: [[80, httpOriginPort]] };
    const negotiated = reply('negotiated').then(({ kex, cipher }) => ({ kex, cipher }));
    negotiated.catch(() => {});
    const up = reply('up');
    tell(start);
    await up;
    while (!(await owner.call('getDevice', { params: { deviceId } })).online) await sleep(20);

    await owner.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1_000, onMarket: true } });
    const rental = await renter.call('rent', { body: { deviceId, sshPublicKey: generateEd25519KeyPair('renter@bench').public } });
    const running = reply('rental-running');
    tell({ type: 'run-rental', rentalId: rental.id });
    await running;
    const active = await renter.call('getRental', { params: { rentalId: rental.id } });
    if (active.state !== 'active') throw new Error(`the bench rental is ${active.state}, not active`);
    const { webHost } = await owner.call('getDevice', { params: { deviceId } });

    return {
      devicePort: registration.sshPort,
      webHost,
      frontDoorPort: ports.http,
      pids: [server.pid!, device.pid!],
      serverPid: server.pid!,
      devicePid: device.pid!,
      restartTunnel: (localPort, cipher) => tell({ ...start, localPort, cipher }),
      async stopTunnel() {
        const stopped = reply('stopped');
        tell({ type: 'stop' });
        await stopped;
      },
      nextUp: () => reply('up', 30_000).then(({ cipher }) => ({ cipher })),
      negotiated,
      startLoopDelay() {
        for (const child of [server, device]) child.send({ type: 'loop-delay', action: 'start' });
      },
      async stopLoopDelay() {
        const results = [server, device].map((child) => message<LoopDelayResult>(child, 'loop-delay-result', 10_000));
        for (const child of [server, device]) child.send({ type: 'loop-delay', action: 'stop' });
        const [s, d] = await Promise.all(results);
        return { server: s!, device: d! };
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * fetch over node:http, one connection per request. The server's close() waits for
 * keep-alive API connections a client still holds (tens of seconds with the global
 * fetch's pool), so the bench's own API calls leave none behind.
 */
const fetchWithoutKeepAlive = ((input: string | URL, init: RequestInit = {}) =>
  new Promise<Response>((resolve, reject) => {
    const headers = { ...(init.headers as Record<string, string>), connection: 'close' };
    const req = http.request(
      String(input),
      { method: init.method ?? 'GET', headers, agent: false, signal: init.signal ?? undefined },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response(body, { status, headers: h }));
        });
      },
    );
    req.on('error', reject);
    req.end(typeof init.body === 'string' ? init.body : undefined);
  })) as typeof fetch;
