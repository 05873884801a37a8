/**
 * A device for the bench, in its own process: the agent's real identity code and its real
 * TunnelClient, with loopback origins standing in for the renter container (the
 * throughput origin on the SSH port, nginx on port 80). What the agent would learn from
 * Docker it reports itself: the rental's container is "ready" as soon as it is asked for.
 * Driven over IPC by the bench (see `ToDevice`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '@p2pvps/protocol/client';
import type { ObservedContainer, Registration } from '@p2pvps/protocol/agent-schemas';
import { agentProtocol, version } from '@p2pvps/protocol/version';
import { probeHardware } from '@p2pvps/agent/hardware';
import { deviceSigner, loadOrCreateDeviceKey } from '@p2pvps/agent/identity';
import { deviceAuthAudience } from '@p2pvps/protocol/device-auth';
import { TunnelClient } from '@p2pvps/agent/tunnel-client';
import { tunnelCiphersHere, type TunnelCipherChoice } from '@p2pvps/agent/tunnel-cipher';
import type { Client as SshClient } from 'ssh2';
import { answerLoopDelay } from './loop-delay.ts';

export type ToDevice =
  | { type: 'register'; apiUrl: string; enrolmentToken: string }
  | { type: 'start'; localPort: number; webPorts: [number, number][]; cipher?: TunnelCipherChoice }
  | { type: 'stop' }
  | { type: 'run-rental'; rentalId: string };

export type FromDevice =
  | { type: 'registered'; registration: Registration }
  | { type: 'started' }
  | { type: 'up'; cipher: string }
  | { type: 'stopped' }
  | { type: 'rental-running' }
  | { type: 'negotiated'; kex: string; cipher: string }
  | { type: 'error'; message: string };

const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-bench-device-'));
const key = loadOrCreateDeviceKey(dataDir);
let registration: Registration | undefined;
let api: ApiClient | undefined;
let tunnel: TunnelClient | undefined;
let observed: ObservedContainer | null = null;
let heartbeatTimer: NodeJS.Timeout | undefined;

const send = (m: FromDevice): void => void process.send?.(m);

async function heartbeat(): Promise<void> {
  if (!api) return;
  const reply = await api.call('agentHeartbeat', { body: { container: observed, hardware: probeHardware(dataDir), agentProtocol } });
  clearTimeout(heartbeatTimer);
  heartbeatTimer = setTimeout(() => void heartbeat().catch(() => {}), reply.heartbeatIntervalMs);
  heartbeatTimer.unref();
}

async function handle(m: ToDevice): Promise<void> {
  switch (m.type) {
    case 'register': {
      const anonymous = new ApiClient({ baseUrl: m.apiUrl });
      registration = await anonymous.call('agentRegister', {
        body: { enrolmentToken: m.enrolmentToken, publicKey: key.publicKey, hardware: probeHardware(dataDir), agentVersion: version },
      });
      api = new ApiClient({ baseUrl: m.apiUrl, signDevice: deviceSigner(registration.deviceId, key, deviceAuthAudience(m.apiUrl)) });
      await heartbeat();
      return send({ type: 'registered', registration });
    }
    case 'start': {
      if (!registration) throw new Error('start before register');
      tunnel?.close();
      const client = new TunnelClient({
        registration,
        privateKey: key.privateKey,
        localPort: m.localPort,
        webPorts: new Map(m.webPorts),
        // As the agent chooses (agent.ts), unless the bench forces one to compare them.
        ciphers: tunnelCiphersHere(m.cipher ?? 'auto'),
        log: (level, msg) => {
          if (level === 'warn' || process.env.BENCH_DEVICE_LOG) console.error(`[bench device ${level}] ${msg}`);
        },
        onStateChange: (up) => up && client === tunnel && send({ type: 'up', cipher }),
      });
      tunnel = client;
      let cipher = 'unknown';
      client.start();
      // The bench reports what the tunnel really negotiated; TunnelClient keeps its ssh2
      // client to itself, so this reaches in (read-only) rather than widen its API.
      (client as unknown as { client?: SshClient }).client?.once('handshake', (n) => {
        cipher = n.cs.cipher;
        send({ type: 'negotiated', kex: n.kex, cipher: n.cs.cipher });
      });
      return send({ type: 'started' });
    }
    case 'stop':
      tunnel?.close();
      tunnel = undefined;
      return send({ type: 'stopped' });
    case 'run-rental':
      // One report that it is starting, one that it is ready, as the agent's reconcile loop sends them.
      observed = { rentalId: m.rentalId, state: 'starting' };
      await heartbeat();
      observed = { rentalId: m.rentalId, state: 'ready' };
      await heartbeat();
      return send({ type: 'rental-running' });
  }
}

answerLoopDelay();
process.on('message', (m: ToDevice) => {
  handle(m).catch((err: Error) => send({ type: 'error', message: `${m.type}: ${err.message}` }));
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  clearTimeout(heartbeatTimer);
  tunnel?.close();
  rmSync(dataDir, { recursive: true, force: true });
  // Let the tunnel's goodbye reach the gateway, then leave (a --cpu-prof profile is written on exit).
  setTimeout(() => process.exit(0), 100);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
