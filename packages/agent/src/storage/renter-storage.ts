import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statfsSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageConfig } from '../config.ts';
import { checkNamedDevice, chooseAutoDisk, describeDisk, devNumberOf, listDisks } from './block-devices.ts';
import { EncryptedHome } from './encrypted-home.ts';
import { deviceMapperAvailable, LuksHome } from './luks-home.ts';

export type WipeMode = 'discard' | 'overwrite';

/** Runs a system command; rejects with its stderr. Injected so tests can watch or break it. */
export type RunCommand = (command: string, args: string[]) => Promise<string>;

export const runCommand: RunCommand = (command, args) =>
  new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 1 << 20, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`));
      else resolve(stdout);
    });
  });

export interface RenterStorageOptions {
  config: StorageConfig;
  wipe: WipeMode;
  dataDir: string;
  run?: RunCommand;
  /** Where /sys and /proc are read from (tests hand in fake trees). */
  sysRoot?: string;
  /** How a renter's home is encrypted: LUKS2 where device-mapper exists, fscrypt otherwise (tests choose). */
  homeEncryption?: 'fscrypt-v2' | 'luks2';
  log: (msg: string) => void;
}

/** The filesystem label the agent gives the renter storage. */
export const storageLabel = 'p2pvps-renter';

/** Where the agent mounts the renter storage on the device. */
export function storageMountDir(dataDir: string): string {
  return join(dataDir, 'renter-storage');
}

/** What the wipe and mount work on: an image file (mounted through a loop device) or a block device. */
interface Target {
  kind: 'image' | 'block';
  path: string;
  sizeBytes: number;
  description: string;
}

const MiB = 1024 * 1024;

/**
 * The renter's persistent storage: an ext4 filesystem on an image file or a dedicated
 * disk, mounted on the device and bind-mounted into the container as /home, so the
 * filesystem's size is the renter's quota. Wiping erases every block (discard, or zeros
 * then discard) and makes a fresh filesystem with a new UUID; the agent remembers that
 * UUID as "clean" until a container uses the storage.
 */
export class RenterStorage {
  readonly mountDir: string;
  /** The renter's /home when they asked for encrypted storage: LUKS2 where device-mapper exists, else fscrypt. */
  readonly encryptedHome: EncryptedHome | LuksHome;
  private readonly run: RunCommand;
  /** The size fresh filesystems are made at: the last rental's disk; null for the whole target. */
  private wantedBytes: number | null = null;

  constructor(private readonly o: RenterStorageOptions) {
    mkdirSync(o.dataDir, { recursive: true });
    // mountinfo names mount points by their real path.
    this.mountDir = storageMountDir(realpathSync(o.dataDir));
    this.run = o.run ?? runCommand;
    const scheme = o.homeEncryption ?? (deviceMapperAvailable() ? 'luks2' : 'fscrypt-v2');
    this.encryptedHome =
      scheme === 'luks2'
        ? new LuksHome({ mountDir: this.mountDir, homeDir: this.homeDir })
        : new EncryptedHome(this.mountDir, this.homeDir);
  }

  /** The directory bind-mounted into the container as /home. */
  get homeDir(): string {
    return join(this.mountDir, 'home');
  }

  /**
   * Makes the storage ready. `keep`: a rental's data is on it (the agent or the device
   * restarted mid-rental), mount it as it is. Otherwise it is mounted as it is only if it
   * still holds the clean filesystem with `cleanUuid`; anything else is wiped first.
   * Returns the UUID of the filesystem if it is clean.
   */
  async open(o: { keep: boolean; cleanUuid: string | null }): Promise<string | null> {
    const target = this.resolve();
    if (this.mounted()) return o.keep ? null : o.cleanUuid;
    const uuid = readExt4Uuid(target.path);
    if (o.keep || (uuid !== null && uuid === o.cleanUuid)) {
      if (uuid === null) throw new Error(`${target.description} holds no filesystem; the rental's data on it is lost`);
      await this.mount(target);
      return o.keep ? null : uuid;
    }
    return this.wipeTarget(target);
  }

  /** Unmounts and wipes the storage, then mounts the fresh filesystem. Returns its UUID. */
  async wipe(): Promise<string> {
    return this.wipeTarget(this.resolve());
  }

  /**
   * What the storage can hold at most, the largest disk a rental can be offered: the image
   * file's size, or the drive's; null when the drive cannot be used (a storage fault says why).
   */
  capacityBytes(): number | null {
    const c = this.o.config;
    if (c.kind === 'image') return c.sizeMiB * MiB;
    try {
      return this.resolve().sizeBytes;
    } catch {
      return null;
    }
  }

  /** The size of the mounted filesystem (what `df` shows as its size), or null when none is mounted. */
  filesystemBytes(): number | null {
    if (!this.mounted()) return null;
    const fs = statfsSync(this.mountDir);
    return Number(fs.blocks) * Number(fs.bsize);
  }

  /**
   * Makes the clean filesystem the size a rental's disk is (null: the whole storage) by
   * making it anew, unless it is that size already; later wipes keep to that size. Only for
   * storage known clean: nothing on it is kept. Returns the new filesystem's UUID, or null
   * when it was left as it was.
   */
  async fitTo(bytes: number | null): Promise<string | null> {
    this.wantedBytes = bytes;
    const target = this.resolve();
    if (this.filesystemBytes() === this.sizeFor(target)) return null;
    return this.wipeTarget(target);
  }

  /** Whether fitTo(bytes) would make the filesystem anew: it is mounted at another size, or not at all. */
  needsRefit(bytes: number | null): boolean {
    try {
      return this.filesystemBytes() !== this.sizeFor(this.resolve(), bytes);
    } catch {
      return true; // the drive is gone or refused: nothing on it can be used as it is
    }
  }

  /** The filesystem size for a target: the wanted size, no more than the target holds, in whole 4 KiB blocks. */
  private sizeFor(target: Target, wanted = this.wantedBytes): number {
    const bytes = Math.min(wanted ?? target.sizeBytes, target.sizeBytes);
    return Math.floor(bytes / 4096) * 4096;
  }

  /** Unmounts the storage (the agent leaving the device, or a test cleaning up). */
  async release(): Promise<void> {
    if (!this.mounted()) return;
    // An encrypted home's key leaves the kernel first (fscrypt: another mount namespace may keep
    // the filesystem, and its keyring, alive past the unmount; LUKS: its volume is a mount
    // inside this one).
    await this.encryptedHome.lock();
    await this.run('umount', [this.mountDir]);
  }

  private async wipeTarget(target: Target): Promise<string> {
    const started = Date.now();
    if (this.mounted()) {
      // An encrypted home's key leaves the kernel and its record is destroyed first; the wipe
      // below then erases every block, the encrypted files with it.
      await this.encryptedHome
        .destroy()
        .catch((err: Error) =>
          this.o.log(`the encrypted home's key could not be removed before the wipe (${err.message}); unmounting forgets it`),
        );
      await this.run('umount', [this.mountDir]);
    }
    if (this.o.wipe === 'overwrite') overwriteWithZeros(target.path, target.sizeBytes);
    await this.discard(target);
    const uuid = randomUUID();
    // -m 0: no blocks reserved for root, the renter gets the whole size. The filesystem is the
    // rented disk's size (the rest of a larger drive or image stays unused and discarded).
    // -O encrypt: a renter may ask for an encrypted home (fscrypt); unused, it changes nothing.
    const size = `${this.sizeFor(target) / 1024}k`;
    const mkfs = ['-F', '-q', '-m', '0', '-O', 'encrypt', '-L', storageLabel, '-U', uuid, '-E', 'discard', target.path, size];
    await this.run('mkfs.ext4', mkfs);
    await this.mount(target);
    this.o.log(`renter storage wiped (${this.o.wipe}) and formatted: ${target.description}, ${Date.now() - started} ms`);
    return uuid;
  }

  /** Every block of the target is let go of, so nothing of the last renter can be read back from it. */
  private async discard(target: Target): Promise<void> {
    if (target.kind === 'image') {
      // Cutting the file to nothing frees every block it had; it grows back sparse.
      await truncate(target.path, 0);
      await truncate(target.path, target.sizeBytes);
      return;
    }
    try {
      await this.run('blkdiscard', ['-f', target.path]);
    } catch (err) {
      // Many USB sticks do not support discard: zeros over every block do the same job, slower.
      this.o.log(`${target.path} cannot discard (${(err as Error).message}); overwriting it with zeros instead`);
      overwriteWithZeros(target.path, target.sizeBytes);
    }
  }

  private async mount(target: Target): Promise<void> {
    mkdirSync(this.mountDir, { recursive: true, mode: 0o700 });
    // minixdf: df shows the filesystem's whole size, the rented disk, with ext4's own
    // metadata (inode tables, journal: a few percent) counted as used rather than taken off
    // the size, so the renter's `df /home` says what the listing said and what is free.
    const options = ['nodev', 'nosuid', 'minixdf', ...(target.kind === 'image' ? ['loop'] : [])];
    await this.run('mount', ['-t', 'ext4', '-o', options.join(','), target.path, this.mountDir]);
    mkdirSync(this.homeDir, { recursive: true, mode: 0o755 });
  }

  /** Whether something is mounted on the mount dir. */
  mounted(): boolean {
    return mountPoints().includes(this.mountDir);
  }

  /** The image file (created when missing) or the block device, checked. */
  private resolve(): Target {
    const c = this.o.config;
    if (c.kind === 'image') {
      const path = c.path ?? join(this.o.dataDir, 'renter-storage.img');
      const sizeBytes = c.sizeMiB * MiB;
      if (!existsSync(path) || statSync(path).size !== sizeBytes) {
        // A new or resized image starts empty; open() then finds no clean filesystem and formats it.
        closeSync(openSync(path, 'a', 0o600));
        truncateSync(path, sizeBytes);
      }
      return { kind: 'image', path, sizeBytes, description: `image file ${path} (${c.sizeMiB} MiB)` };
    }
    const disks = listDisks(this.o.sysRoot, this.mountDir);
    const path = c.device === 'auto' ? chooseAutoDisk(disks).path : c.device;
    if (!existsSync(path))
      throw new Error(`the renter storage device ${path} does not exist; plug it in or fix "storage" in device-config.json`);
    const disk = checkNamedDevice(disks, path, devNumberOf(path));
    if (!c.allowFormat) {
      throw new Error(
        `refusing to format ${describeDisk(disk)} for renter storage: the agent erases it before and after every rental, and device-config.json does not allow that. ` +
          `If everything on it may be lost, set "storage": {"kind": "block", "device": "${c.device}", "allowFormat": true}`,
      );
    }
    return { kind: 'block', path, sizeBytes: blockDeviceSize(path), description: `${describeDisk(disk)}` };
  }
}

/** Size of a block device, from /sys. */
function blockDeviceSize(path: string): number {
  return Number(readFileSync(`/sys/dev/block/${devNumberOf(path)}/size`, 'utf8').trim()) * 512;
}

/** Writes zeros over the first `sizeBytes` of a file or device, then flushes them to it. */
export function overwriteWithZeros(path: string, sizeBytes: number): void {
  const chunk = Buffer.alloc(4 * MiB);
  const fd = openSync(path, 'r+');
  try {
    for (let at = 0; at < sizeBytes;) {
      const n = writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - at), at);
      at += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The UUID of the ext2/3/4 filesystem on a file or device, or null if there is none. */
export function readExt4Uuid(path: string): string | null {
  const sb = Buffer.alloc(1024);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    if (readSync(fd, sb, 0, 1024, 1024) < 1024) return null;
  } finally {
    closeSync(fd);
  }
  if (sb.readUInt16LE(0x38) !== 0xef53) return null;
  const hex = sb.subarray(0x68, 0x78).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Mount points of this process's mount namespace. */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
