import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lxcfsMounted, lxcfsMounts } from './lxcfs.ts';

/** A fake LXCFS tree and mountinfo: what the agent mounts into containers depends only on them. */
function tree(fsType: string) {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-lxcfs-'));
  const root = join(dir, 'lxcfs');
  mkdirSync(join(root, 'proc'), { recursive: true });
  mkdirSync(join(root, 'sys/devices/system/cpu'), { recursive: true });
  for (const f of ['proc/meminfo', 'proc/cpuinfo', 'proc/uptime', 'sys/devices/system/cpu/online']) writeFileSync(join(root, f), '');
  const mountinfo = join(dir, 'mountinfo');
  writeFileSync(mountinfo, `36 25 0:32 / /proc rw - proc proc rw\n92 29 0:50 / ${root} rw,nosuid,nodev,relatime - ${fsType} lxcfs rw\n`);
  return { root, mountinfo };
}

test("with LXCFS mounted, its files go over the container's /proc and /sys ones, read-only", () => {
  const { root, mountinfo } = tree('fuse.lxcfs');
  assert.equal(lxcfsMounted(root, mountinfo), true);
  assert.deepEqual(
    lxcfsMounts(root, mountinfo).map((m) => [m.Source.slice(root.length), m.Target, m.ReadOnly]),
    [
      ['/proc/cpuinfo', '/proc/cpuinfo', true],
      ['/proc/meminfo', '/proc/meminfo', true],
      ['/proc/uptime', '/proc/uptime', true],
      ['/sys/devices/system/cpu/online', '/sys/devices/system/cpu/online', true],
    ],
    'only the files it has',
  );
});

test("a directory that is not an LXCFS mount gives no mounts (the host's own files would be no better)", () => {
  const { root, mountinfo } = tree('tmpfs');
  assert.equal(lxcfsMounted(root, mountinfo), false);
  assert.deepEqual(lxcfsMounts(root, mountinfo), []);
});
