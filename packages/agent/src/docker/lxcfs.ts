import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * LXCFS makes /proc and /sys files that tell a container about its own cgroup: its memory
 * limit as MemTotal in /proc/meminfo (so `free` and `top` show what was rented), its cpuset
 * in /proc/cpuinfo, /proc/stat and /sys/devices/system/cpu/online, its own uptime. Without it
 * these files are the host's, and a renter of 1 core and 512 MiB sees the whole device.
 *
 * The agent bind-mounts those files over the container's (read-only) when it finds LXCFS
 * mounted; the installer (scripts/install-agent.sh) installs Debian's `lxcfs`, whose
 * systemd unit mounts it at /var/lib/lxcfs and restarts it. `nproc` needs no LXCFS: it
 * counts the cpuset. `df` needs none either: /home is a filesystem of the rented size.
 */
export const lxcfsRoot = '/var/lib/lxcfs';

/** The files LXCFS virtualises that renters' tools read. */
const files = [
  'proc/cpuinfo',
  'proc/diskstats',
  'proc/loadavg',
  'proc/meminfo',
  'proc/stat',
  'proc/swaps',
  'proc/uptime',
  'sys/devices/system/cpu/online',
];

export interface BindMount {
  Type: 'bind';
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

/** Whether LXCFS is mounted at `root` (a FUSE filesystem of type fuse.lxcfs), from this process's mountinfo. */
export function lxcfsMounted(root = lxcfsRoot, mountinfo = '/proc/self/mountinfo'): boolean {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    return fields[4] === root && sep > 0 && fields[sep + 1] === 'fuse.lxcfs';
  });
}

/** The bind mounts that show a container its own resources, or none when LXCFS is not mounted. */
export function lxcfsMounts(root = lxcfsRoot, mountinfo?: string): BindMount[] {
  if (!lxcfsMounted(root, mountinfo)) return [];
  return files
    .filter((f) => existsSync(join(root, f)))
    .map((f) => ({ Type: 'bind' as const, Source: join(root, f), Target: `/${f}`, ReadOnly: true }));
}

/** The LXCFS mounts for renter containers, saying in the log whether renters will see their own resources. */
export function findLxcfs(log: (level: 'info' | 'warn', msg: string) => void, root = lxcfsRoot): BindMount[] {
  const mounts = lxcfsMounts(root);
  if (mounts.length) log('info', `LXCFS is mounted at ${root}: renters' free, top and /proc show their rental's memory and cores`);
  else
    log(
      'warn',
      `LXCFS is not mounted at ${root}: inside a rental, free and /proc/meminfo show the whole device's memory (nproc and df are right); install the Debian package lxcfs`,
    );
  return mounts;
}
