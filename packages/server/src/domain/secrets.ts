import { createHash, randomBytes, randomFillSync, randomInt, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { RetryLaterError } from './errors.ts';

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

/**
 * Password hashing: scrypt at N = 2^17, r = 8, p = 1 (OWASP's advice), 128 MiB and about a
 * second of one core per hash here. Stored as `scrypt$N$r$p$salt$hash`, so older, cheaper
 * hashes still verify and are upgraded at the next successful login (`needsRehash`).
 */
export const passwordCost = { log2N: 17, r: 8, p: 1 } as const;
/** The most a stored hash may ask for (N = 2^18): a corrupt row must not make us allocate gigabytes. */
const maxLog2N = 18;

/**
 * At most this many hashes run at once (each holds 128 MiB, and libuv has only 4
 * threads, which file and DNS work share); up to `hashQueueLimit` more wait their turn,
 * and beyond that the caller is told the server is busy rather than queued without bound.
 */
export const hashConcurrency = 2;
export const hashQueueLimit = 32;

class HashSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
  ) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) throw new RetryLaterError('server_busy', 1);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter, so the count never dips and lets a newcomer jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Hashes running and waiting, for tests and metrics. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}

const hashSlots = new HashSlots(hashConcurrency, hashQueueLimit);
export const passwordHashLoad = () => hashSlots.load;

function scryptLimited(password: string, salt: Buffer, length: number, log2N: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** log2N;
  // scrypt needs 128·N·r bytes; maxmem is per call, and the slots bound how many run at once.
  const maxmem = 128 * N * r + 16 * 1024 * 1024;
  return hashSlots.run(() => scrypt(password, salt, length, { N, r, p, maxmem }));
}

/** `cost` is for tests (a cheap hash, or an old one to upgrade); the server always uses `passwordCost`. */
export async function hashPassword(password: string, cost: { log2N: number; r: number; p: number } = passwordCost): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptLimited(password, salt, 32, cost.log2N, cost.r, cost.p);
  return `scrypt$${2 ** cost.log2N}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Whether the password matches, and whether the stored hash is cheaper than `target` (so it should be hashed again). */
export async function verifyPassword(
  password: string,
  stored: string,
  target: { log2N: number; r: number } = passwordCost,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  const log2N = Math.log2(Number(n));
  if (scheme !== 'scrypt' || !salt || !hash || !Number.isInteger(log2N) || log2N < 1 || log2N > maxLog2N) {
    return { ok: false, needsRehash: false };
  }
  if (![r, p].every((v) => /^[1-9][0-9]?$/.test(v ?? ''))) return { ok: false, needsRehash: false };
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptLimited(password, Buffer.from(salt, 'base64url'), expected.length, log2N, Number(r), Number(p));
  const ok = timingSafeEqual(actual, expected);
  const weaker = log2N < target.log2N || Number(r) < target.r;
  return { ok, needsRehash: ok && weaker };
}
