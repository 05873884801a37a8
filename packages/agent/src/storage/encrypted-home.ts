import { spawn } from 'node:child_process';
import { hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A renter's encrypted /home on the renter storage: ext4's native encryption (fscrypt,
 * policy v2: AES-256-XTS contents, AES-256-CTS names), with a key derived on the device
 * from the renter's secret (scrypt, a fresh salt per rental) and held only in the
 * filesystem's keyring in the kernel. On disk there is the record beside the home (the salt
 * and the key's identifier: enough to tell a wrong secret, not to find the key without the
 * secret) and the policy in each encrypted inode; unmounting the filesystem, a reboot
 * included, forgets the key, and the home is locked until the renter sends the secret again.
 * docs/encryption.md says what this protects and what not.
 */
export interface EncryptionRecord {
  version: 1;
  rentalId: string;
  scheme: 'fscrypt-v2';
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** The fscrypt key identifier (HKDF-SHA512 of the key): the kernel's name for it. */
  keyIdentifier: string;
}

/** The secret did not make the key this home was encrypted with. */
export class WrongKeyError extends Error {
  constructor() {
    super('the key does not open this rental’s storage (it is not the one it was encrypted with)');
  }
}

/** scrypt's cost: 32 MiB and a fraction of a second on a Raspberry Pi 4, for each secret tried. */
const kdf = { N: 2 ** 15, r: 8, p: 1 };

const helper = join(dirname(fileURLToPath(import.meta.url)), 'fscrypt-ioctl.py');

/** Runs the ioctl helper with `input` on its stdin (the raw key: never argv, never a file). */
function fscrypt(args: string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [helper, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new Error(`python3 (for fscrypt's ioctls) could not run: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(out.trim());
      else reject(new Error(`fscrypt ${args[0]}: ${err.trim().split('\n').slice(-1)[0] ?? `exit ${code}`}`));
    });
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** The 64-byte fscrypt master key made from the renter's secret. */
export function deriveKey(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret.normalize('NFC'), salt, 64, { ...kdf, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** The kernel's identifier of a v2 master key: HKDF-SHA512, no salt, info "fscrypt\0" and context 1. */
export function keyIdentifier(key: Buffer): string {
  const info = Buffer.concat([Buffer.from('fscrypt\0', 'latin1'), Buffer.from([1])]);
  return Buffer.from(hkdfSync('sha512', key, Buffer.alloc(0), info, 16)).toString('hex');
}

export class EncryptedHome {
  readonly scheme = 'fscrypt-v2';

  constructor(
    /** Where the renter storage is mounted; the record lives in its root, out of the renter's reach. */
    private readonly mountDir: string,
    private readonly homeDir: string,
  ) {}

  private get recordPath(): string {
    return join(this.mountDir, 'encryption.json');
  }

  /** The record of the encrypted home on the mounted storage, or null when the home is not encrypted. */
  record(): EncryptionRecord | null {
    if (!existsSync(this.recordPath)) return null;
    return JSON.parse(readFileSync(this.recordPath, 'utf8')) as EncryptionRecord;
  }

  /** Makes the (clean, empty) home an encrypted directory for `rentalId`, unlocked with the key from `secret`. */
  async create(rentalId: string, secret: string): Promise<void> {
    const salt = randomBytes(32);
    const key = await deriveKey(secret, salt);
    try {
      // A prepared container may have left its image's skeleton here; nothing of a renter.
      rmSync(this.homeDir, { recursive: true, force: true });
      mkdirSync(this.homeDir, { mode: 0o755 });
      const identifier = await fscrypt(['add', this.mountDir], key);
      await fscrypt(['set-policy', this.homeDir, identifier]);
      const record: EncryptionRecord = {
        version: 1,
        rentalId,
        scheme: 'fscrypt-v2',
        kdf: { name: 'scrypt', ...kdf, salt: salt.toString('hex') },
        keyIdentifier: identifier,
      };
      writeDurably(this.recordPath, JSON.stringify(record));
    } finally {
      key.fill(0);
    }
  }

  /** Whether the home is encrypted and its key is not in the kernel (after a reboot or remount). */
  async locked(): Promise<boolean> {
    const r = this.record();
    if (!r) return false;
    return (await fscrypt(['status', this.mountDir, r.keyIdentifier])) !== 'present';
  }

  /** Puts the key made from `secret` into the kernel; a secret that makes another key is refused (WrongKeyError). */
  async unlock(secret: string): Promise<void> {
    const r = this.record();
    if (!r) throw new Error('the renter storage holds no encrypted home');
    const key = await deriveKey(secret, Buffer.from(r.kdf.salt, 'hex'));
    try {
      const id = Buffer.from(keyIdentifier(key), 'hex');
      if (!timingSafeEqual(id, Buffer.from(r.keyIdentifier, 'hex'))) throw new WrongKeyError();
      await fscrypt(['add', this.mountDir], key);
    } finally {
      key.fill(0);
    }
  }

  /**
   * Takes the key out of the kernel, leaving the record: the home is locked until the renter's
   * secret comes again (the agent leaving the device). Unmounting alone does not do it when
   * another mount namespace still holds the filesystem (a container being made at that moment
   * copies every mount): the superblock, and the key in its keyring, outlive the unmount, and
   * the next mount finds the home open.
   */
  async lock(): Promise<void> {
    const r = this.record();
    if (r && (await fscrypt(['status', this.mountDir, r.keyIdentifier])) === 'present')
      await fscrypt(['remove', this.mountDir, r.keyIdentifier]);
  }

  /**
   * Takes the key out of the kernel (the files still open get no new reads) and destroys the
   * record (its bytes overwritten, then unlinked), before the storage is wiped. Nothing if the
   * home was never encrypted.
   */
  async destroy(): Promise<void> {
    const r = this.record();
    if (!r) return;
    if ((await fscrypt(['status', this.mountDir, r.keyIdentifier])) !== 'absent') await fscrypt(['remove', this.mountDir, r.keyIdentifier]);
    const size = statSync(this.recordPath).size;
    const fd = openSync(this.recordPath, 'r+');
    try {
      writeSync(fd, Buffer.alloc(size), 0, size, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(this.recordPath);
  }
}

function writeDurably(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
