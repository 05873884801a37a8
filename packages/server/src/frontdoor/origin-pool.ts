import type { Duplex } from 'node:stream';

export interface OriginPoolLimits {
  /** Idle channels kept per device; one more returned is closed instead. */
  maxIdlePerDevice: number;
  /** An idle channel is closed after this long: well below origins' own keep-alive timeouts (Node's is 5 s). */
  idleMs: number;
}

interface Idle {
  channel: Duplex;
  timer: NodeJS.Timeout;
  drop: () => void;
}

interface DevicePool {
  /** The rental these channels were opened for: they never carry a visitor of another. */
  rentalId: string;
  idle: Idle[];
}

/**
 * Channels to devices' web ports (port 80) kept open between visitor connections, like a
 * proxy's upstream keep-alive: a channel whose last response was complete and whose
 * origin did not ask to close can carry the next visitor's request, which saves opening a
 * channel through the tunnel and the device opening a connection to its origin.
 *
 * Channels are kept per device AND rental: taking or returning one for another rental
 * closes every channel kept for the old one, and the front door forgets a device's
 * channels whenever its route or tunnel changes (forgetDevice), so a channel opened while
 * one renter's container served the name never carries a request to the next renter.
 */
export class OriginPool {
  private readonly devices = new Map<string, DevicePool>();
  private idleCount = 0;

  constructor(private readonly limits: OriginPoolLimits) {}

  /** Idle channels held now, over every device. */
  get size(): number {
    return this.idleCount;
  }

  /** The most recently returned idle channel of this rental (the least likely to have been closed by the origin), or null. */
  take(deviceId: string, rentalId: string): Duplex | null {
    const pool = this.devices.get(deviceId);
    if (!pool) return null;
    if (pool.rentalId !== rentalId) {
      this.forgetDevice(deviceId);
      return null;
    }
    const entry = pool.idle.pop();
    if (!entry) return null;
    this.release(entry);
    if (pool.idle.length === 0) this.devices.delete(deviceId);
    return entry.channel;
  }

  /** Keeps `channel`, between two requests and with nothing buffered either way, for the next visitor of this rental. */
  give(deviceId: string, rentalId: string, channel: Duplex): void {
    let pool = this.devices.get(deviceId);
    if (pool && pool.rentalId !== rentalId) {
      this.forgetDevice(deviceId);
      pool = undefined;
    }
    if (channel.destroyed || !channel.readable || !channel.writable || (pool?.idle.length ?? 0) >= this.limits.maxIdlePerDevice) {
      return void channel.destroy();
    }
    if (!pool) {
      pool = { rentalId, idle: [] };
      this.devices.set(deviceId, pool);
    }
    const devicePool = pool;
    // While idle, anything from the origin (bytes nobody asked for, its close) ends the channel.
    const drop = () => {
      const i = devicePool.idle.indexOf(entry);
      if (i >= 0) {
        devicePool.idle.splice(i, 1);
        if (devicePool.idle.length === 0 && this.devices.get(deviceId) === devicePool) this.devices.delete(deviceId);
      }
      this.release(entry);
      channel.destroy();
    };
    const entry: Idle = { channel, drop, timer: setTimeout(drop, this.limits.idleMs) };
    entry.timer.unref();
    channel.on('data', drop);
    channel.on('end', drop);
    channel.on('close', drop);
    channel.on('error', drop);
    channel.resume();
    devicePool.idle.push(entry);
    this.idleCount++;
  }

  /** Closes every idle channel of the device: its rental, route or tunnel changed. */
  forgetDevice(deviceId: string): void {
    const pool = this.devices.get(deviceId);
    if (!pool) return;
    this.devices.delete(deviceId);
    for (const entry of pool.idle.splice(0)) {
      this.release(entry);
      entry.channel.destroy();
    }
  }

  /** Closes every idle channel (routes were forgotten wholesale, or the server is closing). */
  clear(): void {
    for (const deviceId of [...this.devices.keys()]) this.forgetDevice(deviceId);
  }

  private release(entry: Idle): void {
    clearTimeout(entry.timer);
    const { channel, drop } = entry;
    channel.off('data', drop);
    channel.off('end', drop);
    channel.off('close', drop);
    channel.off('error', drop);
    // Paused until its new owner reads it, so no byte is lost in between.
    channel.pause();
    this.idleCount--;
  }
}
