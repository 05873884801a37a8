import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { WrongKeyError } from './encrypted-home.ts';

/**
 * A renter's encrypted /home as a LUKS2 volume (dm-crypt), offered where the kernel has
 * device-mapper (Raspberry Pi OS does; this project's test machine does not, so this path is
 * untested here: docs/encryption.md). The volume is one file on the renter storage,
 * `home.luks`, filling its free space: the outer filesystem then shows one file of one size,
 * none of the renter's files, names, sizes or timestamps (what fscrypt leaves visible). Its
 * LUKS2 header (an Argon2id key slot) is the record: the renter's secret goes to cryptsetup on
 * its stdin only, and the volume's key exists unwrapped only in the kernel while it is open.
 */

/** One command's outcome; the secret, when there is one, is `input`, never an argument. */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}
export type Exec = (command: string, args: string[], input?: Buffer) => Promise<ExecResult>;

export const exec: Exec = (command, args, input) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ code: null, stdout, stderr: e.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });

/**
 * Whether this device can hold LUKS2 volumes: the kernel has device-mapper (loaded, or a
 * module it can load, or built in) and cryptsetup is installed. `root` is where /proc, /lib
 * and /usr are read from (tests hand in fake trees).
 */
export function deviceMapperAvailable(root = '/', kernelRelease = readKernelRelease(root)): boolean {
  const read = (p: string) => {
    try {
      return readFileSync(join(root, p), 'utf8');
    } catch {
      return '';
    }
  };
  const loaded = /\sdevice-mapper$/m.test(read('proc/misc'));
  const modules = `${read(`lib/modules/${kernelRelease}/modules.dep`)}\n${read(`lib/modules/${kernelRelease}/modules.builtin`)}`;
  const loadable = /(^|\/)dm-crypt\.ko/m.test(modules) && /(^|\/)dm-mod\.ko/m.test(modules);
  const cryptsetup = ['usr/sbin/cryptsetup', 'sbin/cryptsetup', 'usr/bin/cryptsetup'].some((p) => existsSync(join(root, p)));
  return (loaded || loadable) && cryptsetup;
}

function readKernelRelease(root: string): string {
  try {
    return readFileSync(join(root, 'proc/sys/kernel/osrelease'), 'utf8').trim();
  } catch {
    return '';
  }
}

const MiB = 1024 * 1024;
/** LUKS2's default header with its key-slot area; overwritten at the end after luksErase. */
export const luksHeaderBytes = 16 * MiB;

export interface LuksHomeOptions {
  /** Where the renter storage is mounted; the volume file lives in its root, out of the renter's reach. */
  mountDir: string;
  homeDir: string;
  exec?: Exec;
  /** Where device-mapper's nodes appear (tests hand in a temp dir). */
  mapperDir?: string;
  /** Free bytes of the mounted storage (tests hand in a number). */
  freeBytes?: () => number;
}

export class LuksHome {
  readonly scheme = 'luks2';
  private readonly exec: Exec;
  private readonly mapperDir: string;
  /** The device-mapper name: stable across restarts, distinct per storage (several agents in tests). */
  readonly mapperName: string;

  constructor(private readonly o: LuksHomeOptions) {
    this.exec = o.exec ?? exec;
    this.mapperDir = o.mapperDir ?? '/dev/mapper';
    this.mapperName = `p2pvps-home-${createHash('sha256').update(o.mountDir).digest('hex').slice(0, 12)}`;
  }

  get volumePath(): string {
    return join(this.o.mountDir, 'home.luks');
  }

  private get mapperPath(): string {
    return join(this.mapperDir, this.mapperName);
  }

  /** Whether the home is a LUKS volume (the storage holds one for a rental). */
  encrypted(): boolean {
    return existsSync(this.volumePath);
  }

  /** Makes the (clean, empty) storage's home a LUKS2 volume for the rental, opened with the key from `secret`, and mounts it. */
  async create(_rentalId: string, secret: string): Promise<void> {
    const free = this.o.freeBytes?.() ?? freeBytesOf(this.o.mountDir);
    // A margin for the outer filesystem's own metadata; whole MiB, as cryptsetup aligns to it.
    const size = Math.floor((free - 8 * MiB) / MiB) * MiB;
    if (size < 2 * luksHeaderBytes) throw new Error(`the renter storage has too little room for an encrypted home (${free} bytes free)`);
    // Sparse: blocks are taken as the renter writes; the wipe discards them as before.
    closeSync(openSync(this.volumePath, 'w', 0o600));
    await truncate(this.volumePath, size);
    await this.run('cryptsetup', this.formatArgs(), secretBytes(secret));
    await this.open(secret);
    await this.run('mkfs.ext4', ['-F', '-q', '-m', '0', '-E', 'discard', this.mapperPath]);
    await this.mount();
    // The renter's /home starts empty, without ext4's lost+found.
    await this.run('rmdir', [join(this.o.homeDir, 'lost+found')]);
  }

  /** Whether the home is encrypted and its volume not open (after a reboot or remount). */
  async locked(): Promise<boolean> {
    return this.encrypted() && !existsSync(this.mapperPath);
  }

  /** Opens the volume with `secret` and mounts it; a secret no key slot takes is refused (WrongKeyError). */
  async unlock(secret: string): Promise<void> {
    if (!this.encrypted()) throw new Error('the renter storage holds no encrypted home');
    await this.open(secret);
    await this.mount();
  }

  /**
   * The end of the rental, before the usual wipe: unmount, close (the key leaves the kernel),
   * erase every key slot (luksErase), then overwrite the header area with zeros and delete the
   * file. Nothing if the home was never encrypted.
   */
  async destroy(): Promise<void> {
    if (!this.encrypted()) return;
    for (const args of this.destroyCommands()) {
      const r = await this.exec(args[0]!, args.slice(1));
      // Already unmounted or closed (a reboot, a locked rental ending) is fine; erase is not optional.
      if (r.code !== 0 && args[1] === 'erase') throw new Error(`cryptsetup erase: ${r.stderr.trim()}`);
    }
    zeroHeader(this.volumePath);
    unlinkSync(this.volumePath);
  }

  /** Unmounts the home and closes the volume (the agent leaving the device): its key leaves the kernel, the rental is locked. */
  async lock(): Promise<void> {
    if (!this.encrypted()) return;
    await this.exec('umount', [this.o.homeDir]);
    await this.exec('cryptsetup', ['close', this.mapperName]);
  }

  /** luksFormat's arguments: LUKS2, Argon2id at 128 MiB (a 1 GB Pi can afford it at every unlock), key on stdin. */
  formatArgs(): string[] {
    return [
      'luksFormat',
      '--batch-mode',
      '--type',
      'luks2',
      '--cipher',
      'aes-xts-plain64',
      '--key-size',
      '512',
      '--pbkdf',
      'argon2id',
      '--pbkdf-memory',
      '131072',
      '--key-file=-',
      this.volumePath,
    ];
  }

  openArgs(): string[] {
    return ['open', '--type', 'luks2', '--key-file=-', this.volumePath, this.mapperName];
  }

  /** In order: unmount the home, close the mapping, erase the key slots. */
  destroyCommands(): string[][] {
    return [
      ['umount', this.o.homeDir],
      ['cryptsetup', 'close', this.mapperName],
      ['cryptsetup', 'erase', '--batch-mode', this.volumePath],
    ];
  }

  private async open(secret: string): Promise<void> {
    const r = await this.exec('cryptsetup', this.openArgs(), secretBytes(secret));
    // cryptsetup's exit 2: no key slot takes this passphrase.
    if (r.code === 2) throw new WrongKeyError();
    if (r.code !== 0) throw new Error(`cryptsetup open: ${r.stderr.trim()}`);
  }

  private async mount(): Promise<void> {
    await this.run('mount', ['-t', 'ext4', '-o', 'nodev,nosuid', this.mapperPath, this.o.homeDir]);
  }

  private async run(command: string, args: string[], input?: Buffer): Promise<void> {
    const r = await this.exec(command, args, input);
    if (r.code !== 0) throw new Error(`${command} ${args[0]}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.code}`}`);
  }
}

/** The secret as cryptsetup reads it from --key-file=-: every byte, no newline, one normal form. */
function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.normalize('NFC'), 'utf8');
}

/** Zeros over the LUKS2 header area (or the whole file, if smaller), flushed to the drive. */
function zeroHeader(path: string): void {
  const bytes = Math.min(luksHeaderBytes, statSync(path).size);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(bytes), 0, bytes, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function freeBytesOf(dir: string): number {
  const fs = statfsSync(dir);
  return Number(fs.bavail) * Number(fs.bsize);
}
