/**
 * One of the bench's device processes: it plays many devices, each a real TunnelClient
 * with its own Ed25519 key, all dialling the gateway on loopback. Driven over IPC by
 * bench/idle-tunnels.ts.
 */
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { TunnelClient } from '@p2pvps/agent/tunnel-client';
import { readNudges } from '@p2pvps/agent/tunnel-nudges';

export interface DeviceSpec {
  deviceId: string;
  sshPort: number;
}

export type ToDevices =
  | { type: 'keys'; devices: DeviceSpec[] }
  | { type: 'start'; count: number; perTick: number; gateway: { host: string; port: number; hostKey: string } }
  | { type: 'state' };

export type FromDevices =
  | { type: 'keys'; publicKeys: { deviceId: string; publicKey: string }[]; ms: number }
  | { type: 'state'; up: number; started: number; reconnects: number };

const send = (msg: FromDevices) => process.send?.(msg);
const devices: (DeviceSpec & { privateKey: string })[] = [];
const clients: TunnelClient[] = [];
let up = 0;
let reconnects = 0;

process.on('message', (msg: ToDevices) => {
  if (msg.type === 'keys') {
    const t0 = performance.now();
    const publicKeys = msg.devices.map((d) => {
      const pair = generateEd25519KeyPair(`${d.deviceId}@bench`);
      devices.push({ ...d, privateKey: pair.private });
      return { deviceId: d.deviceId, publicKey: pair.public };
    });
    send({ type: 'keys', publicKeys, ms: performance.now() - t0 });
  } else if (msg.type === 'start') {
    start(msg.count, msg.perTick, msg.gateway);
  } else if (msg.type === 'state') {
    send({ type: 'state', up, started: clients.length, reconnects });
  }
});
// The parent going away (even by SIGKILL) must not leave thousands of tunnels behind.
process.on('disconnect', () => process.exit(0));

/** Starts this process's devices up to `count`, `perTick` every 10 ms, as devices booting over a few seconds would. */
function start(count: number, perTick: number, gateway: { host: string; port: number; hostKey: string }): void {
  const tick = () => {
    for (let i = 0; i < perTick && clients.length < Math.min(count, devices.length); i++) {
      const d = devices[clients.length]!;
      const client = new TunnelClient({
        registration: { deviceId: d.deviceId, sshPort: d.sshPort, gateway },
        privateKey: d.privateKey,
        localPort: 9, // nothing connects to the device side in this bench
        log: (_level, msg) => {
          if (msg.startsWith('tunnel down')) reconnects++;
        },
        onStateChange: (isUp) => (up += isUp ? 1 : -1),
        // As the agent does: the server's nudges ride the tunnel, so an idle tunnel holds
        // their channel too, and its cost is in the figures.
        nudges: (channel) => readNudges(channel, () => undefined),
      });
      clients.push(client);
      client.start();
    }
    if (clients.length < Math.min(count, devices.length)) setTimeout(tick, 10);
  };
  tick();
}
