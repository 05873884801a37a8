import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';

/** The data dir holds the database, the gateway's host key and the operator's password: ours alone. */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
}

/** The gateway's host key lives in the data dir, so devices can pin it across restarts. */
export function loadHostKey(dataDir: string): { privateKey: string; publicKey: string } {
  const path = join(dataDir, 'gateway_host_ed25519_key');
  if (!existsSync(path)) {
    const pair = generateEd25519KeyPair('p2pvps-gateway');
    writeFileSync(path, pair.private, { mode: 0o600 });
    writeFileSync(`${path}.pub`, `${pair.public}\n`);
  }
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/** Writes the first start's operator password where only this user can read it; returns the file's path. */
export function writeOperatorPassword(dataDir: string, password: string): string {
  const file = join(dataDir, 'operator-password');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
