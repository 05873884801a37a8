import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * The disks of this machine as the kernel describes them (/sys/block, /proc/self/mountinfo,
 * /proc/swaps), read from `root` so tests can hand in a fake tree. The agent uses this to
 * find a USB drive for the renter's storage and to refuse a disk the system is using.
 */
export interface Disk {
  /** Kernel name, e.g. `sda`. */
  name: string;
  path: string;
  /** `major:minor` of the disk and of each of its partitions. */
  devNumbers: string[];
  partitions: string[];
  sizeBytes: number;
  removable: boolean;
  usb: boolean;
  readOnly: boolean;
  model: string;
  /** Why the disk must not be used for renter storage; empty when it may be. */
  inUse: string[];
}

/** Kernel devices that are never a renter's USB drive. */
const notADrive = /^(loop|ram|zram|dm-|md|sr|nbd|fd|mtdblock)/;

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function entries(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** `major:minor` → mount points, from mountinfo (field 3 is the device, field 5 the mount point). */
function mountsByDevNumber(root: string): Map<string, string[]> {
  const mounts = new Map<string, string[]>();
  for (const line of read(join(root, 'proc/self/mountinfo')).split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const point = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.set(f[2]!, [...(mounts.get(f[2]!) ?? []), point]);
  }
  return mounts;
}

function swapDevices(root: string): Set<string> {
  const lines = read(join(root, 'proc/swaps')).split('\n').slice(1);
  return new Set(lines.map((l) => basename(l.split(/\s+/)[0] ?? '')).filter(Boolean));
}

/** `ownMount`: the agent's own mount of the renter storage, which does not count as in use. */
export function listDisks(root = '/', ownMount?: string): Disk[] {
  const sysBlock = join(root, 'sys/block');
  const mounts = mountsByDevNumber(root);
  const swaps = swapDevices(root);
  const bootMounts = new Set(['/', '/boot', '/boot/firmware', '/boot/efi']);
  return entries(sysBlock)
    .sort()
    .map((name) => {
      const dir = join(sysBlock, name);
      const partitions = entries(dir).filter((p) => existsSync(join(dir, p, 'partition')));
      const parts = [{ name, dir }, ...partitions.map((p) => ({ name: p, dir: join(dir, p) }))];
      const inUse: string[] = [];
      for (const part of parts) {
        for (const point of mounts.get(read(join(part.dir, 'dev'))) ?? []) {
          if (point === ownMount) continue;
          inUse.push(
            bootMounts.has(point) ? `it is the boot disk (${part.name} is mounted at ${point})` : `${part.name} is mounted at ${point}`,
          );
        }
        if (swaps.has(part.name)) inUse.push(`${part.name} is in use as swap`);
        const holders = entries(join(part.dir, 'holders'));
        if (holders.length) inUse.push(`${part.name} is held by ${holders.join(', ')} (RAID, LVM or device-mapper)`);
      }
      let real = dir;
      try {
        real = realpathSync(dir);
      } catch {
        // a plain directory in a fake tree
      }
      return {
        name,
        path: `/dev/${name}`,
        devNumbers: parts.map((p) => read(join(p.dir, 'dev'))).filter(Boolean),
        partitions,
        sizeBytes: Number(read(join(dir, 'size')) || 0) * 512,
        removable: read(join(dir, 'removable')) === '1',
        usb: /\/usb\d*\//.test(real),
        readOnly: read(join(dir, 'ro')) === '1',
        model: read(join(dir, 'device/model')),
        inUse,
      };
    });
}

export function describeDisk(d: Disk): string {
  const size = d.sizeBytes >= 1e9 ? `${(d.sizeBytes / 1e9).toFixed(1)} GB` : `${Math.round(d.sizeBytes / 1e6)} MB`;
  return `${d.path} (${[d.model, size].filter(Boolean).join(', ')})`;
}

/** Why a disk cannot be picked automatically; empty when it can. */
function autoRejections(d: Disk): string[] {
  const why = [...d.inUse];
  if (!d.removable && !d.usb) why.push('not removable');
  if (d.readOnly) why.push('read-only');
  if (d.sizeBytes === 0) why.push('no medium');
  return why;
}

/**
 * `device: "auto"`: the one removable (or USB) disk that is not mounted, not swap, not the
 * boot disk and not part of a RAID or LVM. None or several is an error that says why.
 */
export function chooseAutoDisk(disks: Disk[]): Disk {
  const drives = disks.filter((d) => !notADrive.test(d.name));
  const fit = drives.filter((d) => autoRejections(d).length === 0);
  if (fit.length === 1) return fit[0]!;
  if (fit.length > 1) {
    throw new Error(
      `several disks could be the renter storage: ${fit.map(describeDisk).join(', ')}; name one in device-config.json ("storage": {"kind": "block", "device": "/dev/…"})`,
    );
  }
  const skipped = drives.map((d) => `${d.path}: ${autoRejections(d).join(', ')}`);
  throw new Error(
    `no removable, unmounted disk was found for the renter storage${skipped.length ? ` (${skipped.join('; ')})` : ''}; plug in a USB drive or name a device in device-config.json`,
  );
}

/** `major:minor` of a device node, as /sys spells it. */
export function devNumberOf(path: string): string {
  const st = statSync(path);
  if (!st.isBlockDevice()) throw new Error(`${path} is not a block device`);
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & ~0xff) >>> 0);
  return `${major}:${minor}`;
}

/**
 * A device the owner named: it must exist, and neither it nor any partition of its disk
 * may be in use by the system. Returns the disk it belongs to.
 */
export function checkNamedDevice(disks: Disk[], path: string, devNumber: string): Disk {
  const disk = disks.find((d) => d.devNumbers.includes(devNumber));
  if (!disk) throw new Error(`${path} (${devNumber}) is not a disk or partition this system knows (see lsblk)`);
  if (disk.inUse.length) throw new Error(`refusing to use ${path} as renter storage: ${disk.inUse.join('; ')}`);
  if (disk.readOnly) throw new Error(`refusing to use ${path} as renter storage: it is read-only`);
  return disk;
}
