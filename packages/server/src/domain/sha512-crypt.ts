import { createHash, hash, randomInt } from 'node:crypto';

/**
 * SHA-512 crypt (`$6$salt$…`), the password hash format of glibc's and libxcrypt's crypt(3),
 * /etc/shadow and `chpasswd -e`, after Ulrich Drepper's specification ("Unix crypt using
 * SHA-256 and SHA-512"). The server gives a rental's device only this hash, so the
 * container's sshd can check the renter's password without the device ever holding it.
 * Node has no crypt(); a child `openssl passwd` per rental would cost a process start on
 * the rent path and a system dependency on the server, for ~60 lines of hashing.
 */
const itoa64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const defaultRounds = 5000;
const maxSaltLength = 16;

/** The spec's byte order for turning the 64-byte digest into 86 characters. */
const order = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
] as const;

const sha512 = (...parts: Buffer[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Copies of `block` laid end to end and cut to `length` (the spec's P and S sequences). */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

function base64From24(b2: number, b1: number, b0: number, chars: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < chars; i++) {
    out += itoa64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/** A random salt of 16 characters from crypt's alphabet (96 bits). */
export function newCryptSalt(): string {
  let salt = '';
  for (let i = 0; i < maxSaltLength; i++) salt += itoa64[randomInt(itoa64.length)];
  return salt;
}

/**
 * The `$6$…` hash of `password`. `rounds` other than the default is written into the hash
 * (`$6$rounds=N$…`) as the spec says; it is clamped to 1000 … 999,999,999. A salt is cut to 16 characters.
 */
export function sha512Crypt(password: string, salt = newCryptSalt(), rounds?: number): string {
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(salt.slice(0, maxSaltLength), 'utf8');
  const n = rounds === undefined ? defaultRounds : Math.min(999_999_999, Math.max(1000, Math.floor(rounds)));

  const B = sha512(P, S, P);
  const a = createHash('sha512').update(P).update(S);
  a.update(repeatTo(B, P.length));
  for (let len = P.length; len > 0; len >>= 1) a.update(len & 1 ? B : P);
  const A = a.digest();

  const DP = sha512(...Array.from({ length: P.length }, () => P));
  const Pseq = repeatTo(DP, P.length);
  const DS = sha512(...Array.from({ length: 16 + A[0]! }, () => S));
  const Sseq = repeatTo(DS, S.length);

  // Each round hashes C and the P and S sequences in an order set by i; the bytes are laid
  // out in one buffer and hashed in one call (a Hash object per round costs several times more).
  let C = A;
  const buf = Buffer.alloc(64 + S.length + 2 * P.length);
  for (let i = 0; i < n; i++) {
    let at = 0;
    at += (i & 1 ? Pseq : C).copy(buf, at);
    if (i % 3) at += Sseq.copy(buf, at);
    if (i % 7) at += Pseq.copy(buf, at);
    at += (i & 1 ? C : Pseq).copy(buf, at);
    C = hash('sha512', buf.subarray(0, at), 'buffer');
  }

  let encoded = '';
  for (const [x, y, z] of order) encoded += base64From24(C[x]!, C[y]!, C[z]!, 4);
  encoded += base64From24(0, 0, C[63]!, 2);
  const roundsPart = rounds === undefined ? '' : `rounds=${n}$`;
  return `$6$${roundsPart}${S.toString('utf8')}$${encoded}`;
}
