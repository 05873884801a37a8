import { createHash, randomBytes, randomFillSync, randomInt, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

const idAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Random, public identifiers (device IDs, rental IDs). Never secrets. */
export function newId(length = 16): string {
  let id = '';
  while (id.length < length) {
    const byte = randomByte();
    // Bytes from 252 up are dropped so that each of the 36 characters is equally likely.
    if (byte < 252) id += idAlphabet[byte % 36];
  }
  return id;
}

// IDs are made by the thousand (the meter writes a ledger transaction per rental per
// minute): read the CSPRNG a few KiB at a time rather than once per character.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomByte(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

/**
 * A device's public web name, the label in `NAME.web-domain`: random, so it says nothing
 * about the device, its owner or its keys, and DNS-safe (lower-case letters and digits).
 */
export function newWebName(): string {
  return `${idAlphabet[randomInt(26)]}${newId(7)}`;
}

let lastMicros = 0n;
/**
 * A random ID that sorts in the order it was made (within a process and across restarts):
 * microseconds since the epoch, never repeating, then randomness. For ledger rows, whose
 * order on a statement must be the order they were written even within one instant.
 */
export function sortableId(): string {
  const now = BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
  lastMicros = now > lastMicros ? now : lastMicros + 1n;
  return `${lastMicros.toString(36).padStart(12, '0')}${newId(8)}`;
}

/** A bearer secret from the CSPRNG, with a prefix that says what it is when it turns up somewhere. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets that only need checking are stored as this hash. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Renter login name: starts with a letter, safe for useradd. */
export function newUsername(): string {
  return `r${newId(7)}`;
}

/** Renter password: 20 characters from an unambiguous alphabet (~115 bits). */
export function newPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let pw = '';
  for (let i = 0; i < 20; i++) pw += alphabet[randomInt(alphabet.length)];
  return pw;
}

const scryptParams = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, scryptParams);
  return `scrypt$${scryptParams.N}$${scryptParams.r}$${scryptParams.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: scryptParams.maxmem,
  });
  return timingSafeEqual(actual, expected);
}
