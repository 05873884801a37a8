import type net from 'node:net';
import client from 'prom-client';
import type { Db } from '../db/database.ts';
import { addRentalTraffic } from '../db/devices-repo.ts';

export type TrafficKind = 'ssh' | 'http' | 'https';

interface Tracked {
  socket: net.Socket;
  deviceId: string;
  rentalId: string | null;
  kind: TrafficKind;
  /** Bytes already counted, so each sample adds only what is new. */
  read: number;
  written: number;
  /** The rental has ended: its series is gone, and what is still carried only goes to the database. */
  rentalEnded: boolean;
}

/**
 * Counts the bytes visitors move through the front doors and public SSH ports, per
 * device and per rental. Live connections are sampled (at every scrape and flush), so a
 * day-long SSH session shows up while it runs, not only when it ends. "in" is what the
 * visitor sent toward the device; "out" is what came back. A rental's series is removed
 * when it ends (the database keeps its totals), so the scrape does not grow with every
 * rental ever served.
 */
export class TrafficMeter {
  private readonly live = new Set<Tracked>();
  /** Per rental, bytes not yet written to the database. */
  private readonly unsaved = new Map<string, { in: number; out: number }>();
  readonly deviceBytes: client.Counter<'device' | 'direction'>;
  readonly rentalBytes: client.Counter<'rental' | 'direction'>;
  readonly connections: client.Counter<'device' | 'kind'>;

  constructor(registry: client.Registry) {
    this.deviceBytes = new client.Counter({
      name: 'p2pvps_device_bytes_total',
      help: 'Bytes carried for a device: in = from visitors to the device, out = back.',
      labelNames: ['device', 'direction'],
      registers: [registry],
    });
    this.rentalBytes = new client.Counter({
      name: 'p2pvps_rental_bytes_total',
      help: 'Bytes carried for a rental: in = from visitors to the container, out = back.',
      labelNames: ['rental', 'direction'],
      registers: [registry],
    });
    this.connections = new client.Counter({
      name: 'p2pvps_device_connections_total',
      help: 'Visitor connections carried to a device, by kind.',
      labelNames: ['device', 'kind'],
      registers: [registry],
    });
  }

  track(socket: net.Socket, deviceId: string, rentalId: string | null, kind: TrafficKind): void {
    const t: Tracked = { socket, deviceId, rentalId, kind, read: 0, written: 0, rentalEnded: false };
    this.live.add(t);
    this.connections.inc({ device: deviceId, kind });
    socket.once('close', () => {
      this.sample(t);
      this.live.delete(t);
    });
  }

  /** Removes an ended rental's series; connections of it still open count toward the database only. */
  rentalEnded(rentalId: string): void {
    for (const t of this.live) {
      if (t.rentalId !== rentalId) continue;
      this.sample(t);
      t.rentalEnded = true;
    }
    for (const direction of ['in', 'out']) this.rentalBytes.remove({ rental: rentalId, direction });
  }

  /** Adds what live connections moved since the last sample. */
  collect(): void {
    for (const t of this.live) this.sample(t);
  }

  /** Takes the per-rental totals not yet saved, to be added to the database. */
  drainUnsaved(): Map<string, { in: number; out: number }> {
    this.collect();
    const out = new Map(this.unsaved);
    this.unsaved.clear();
    return out;
  }

  /** Puts back totals a failed save could not write. */
  restoreUnsaved(pending: Map<string, { in: number; out: number }>): void {
    for (const [rentalId, bytes] of pending) this.addUnsaved(rentalId, bytes.in, bytes.out);
  }

  private sample(t: Tracked): void {
    const read = t.socket.bytesRead;
    const written = t.socket.bytesWritten;
    const bytesIn = read - t.read;
    const bytesOut = written - t.written;
    t.read = read;
    t.written = written;
    if (bytesIn === 0 && bytesOut === 0) return;
    this.deviceBytes.inc({ device: t.deviceId, direction: 'in' }, bytesIn);
    this.deviceBytes.inc({ device: t.deviceId, direction: 'out' }, bytesOut);
    if (t.rentalId === null) return;
    if (!t.rentalEnded) {
      this.rentalBytes.inc({ rental: t.rentalId, direction: 'in' }, bytesIn);
      this.rentalBytes.inc({ rental: t.rentalId, direction: 'out' }, bytesOut);
    }
    this.addUnsaved(t.rentalId, bytesIn, bytesOut);
  }

  private addUnsaved(rentalId: string, bytesIn: number, bytesOut: number): void {
    const u = this.unsaved.get(rentalId) ?? { in: 0, out: 0 };
    u.in += bytesIn;
    u.out += bytesOut;
    this.unsaved.set(rentalId, u);
  }
}

/** Adds the bytes counted since the last save to their rentals; kept for the next save when the database fails. */
export async function saveTrafficCounters(
  db: Db,
  traffic: TrafficMeter,
  log: { warn(fields: object, message: string): void },
): Promise<void> {
  const pending = traffic.drainUnsaved();
  try {
    for (const [rentalId, bytes] of pending) await addRentalTraffic(db, rentalId, bytes.in, bytes.out);
  } catch (err) {
    traffic.restoreUnsaved(pending);
    log.warn({ err }, 'could not save traffic counters');
  }
}
