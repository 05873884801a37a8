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

export function deviceSigner(deviceId: string, key: DeviceKey, now: () => number = Date.now) {
  return (method: string, pathWithQuery: string, body: string): string => {
    const ts = now();
    return formatDeviceAuth(deviceId, ts, key.sign(Buffer.from(deviceSigningText(method, pathWithQuery, ts, body))));
  };
}
