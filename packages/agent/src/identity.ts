import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceSigningText, formatDeviceAuth } from '@p2pvps/protocol/device-auth';
import ssh2 from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';

/**
 * The device's own Ed25519 key: generated on the device, never leaves it. The same key
 * opens the tunnel and signs every API call.
 */
export interface DeviceKey {
  privateKey: string;
  publicKey: string;
  sign(data: Buffer): Buffer;
}

export function loadOrCreateDeviceKey(dataDir: string): DeviceKey {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, 'device_ed25519_key');
  if (!existsSync(path)) {
    const pair = generateEd25519KeyPair('p2pvps-device');
    writeFileSync(`${path}.tmp`, pair.private, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    writeFileSync(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  const privateKey = readFileSync(path, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`cannot read the device key ${path}: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  const publicKey = `${key.type} ${key.getPublicSSH().toString('base64')}`;
  return { privateKey, publicKey, sign: (data) => key.sign(data) as Buffer };
}

/**
 * The timestamps the device signs with: its own clock, corrected by what the server said its
 * time is, and strictly increasing, since the server accepts each timestamp of a device only
 * once and in order (even two requests in the same millisecond, or after a correction back).
 */
export class SigningClock {
  private offsetMs = 0;
  private last = 0;
  constructor(private readonly now: () => number = Date.now) {}

  /** How far the server's clock is ahead of this device's, as last learnt. */
  get offset(): number {
    return this.offsetMs;
  }

  /**
   * Takes the server's time (from a heartbeat reply or a device_clock_skew error) as the
   * truth. Returns true when the correction moved by more than `toleranceMs`: the time a
   * reply takes is noise, a device that booted with a stale clock is not.
   */
  learnServerTime(serverMs: number, toleranceMs = 5_000): boolean {
    if (!Number.isFinite(serverMs)) return false;
    const offset = serverMs - this.now();
    if (Math.abs(offset - this.offsetMs) <= toleranceMs) return false;
    this.offsetMs = offset;
    // Timestamps signed with the wrong clock must not hold the corrected ones up; should the
    // server have accepted some of them, its device_replay answer says how far to go.
    this.last = Math.min(this.last, Math.round(serverMs) - 1);
    return true;
  }

  /** Never signs `ts` or below again: the server's high-water mark for this device. */
  raiseFloor(ts: number): void {
    if (Number.isSafeInteger(ts)) this.last = Math.max(this.last, ts);
  }

  next(): number {
    this.last = Math.max(Math.round(this.now() + this.offsetMs), this.last + 1);
    return this.last;
  }
}

/**
 * Signs API calls for one server: `audience` is its origin (deviceAuthAudience of the
 * server URL), so the signature is worth nothing to any other server.
 */
export function deviceSigner(deviceId: string, key: DeviceKey, audience: string, clock: SigningClock = new SigningClock()) {
  return (method: string, pathWithQuery: string, body: string): string => {
    const ts = clock.next();
    return formatDeviceAuth(deviceId, ts, key.sign(Buffer.from(deviceSigningText(audience, method, pathWithQuery, ts, body))));
  };
}
