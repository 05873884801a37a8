import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rentalSystemDiskBytes } from '@p2pvps/protocol/schemas';
import { overlayOnXfs, rootDiskCap } from '@p2pvps/agent/docker/root-disk';
import { PrivateDockerEngine, removeEngineDir } from './docker-engine.ts';
import { docker, renterImage, tempDir } from './harness.ts';

/**
 * The cap on a renter's / (root's apt-get installs land in the container's own layer, on
 * the Docker engine's disk). overlay2 caps that layer only on XFS mounted with project
 * quotas, which needs a kernel built with CONFIG_XFS_QUOTA. Here a real XFS filesystem in a
 * file is made and mounted, with project quotas where the kernel has them: the installer's
 * script puts Docker's data root on one or refuses, changing nothing, and the agent reads a
 * real engine on XFS and caps / exactly where the engine takes a size.
 */
const root = join(import.meta.dirname, '..');
const dirs: string[] = [];
let engine: PrivateDockerEngine | undefined;

after(async () => {
  await engine?.destroy();
  for (const d of dirs) removeEngineDir(d);
});

/** Makes an XFS filesystem in FILE and mounts it at DIR, with project quotas if the kernel can; says which. */
function mountXfs(file: string, dir: string): { quota: boolean } {
  mkdirSync(dir, { recursive: true });
  assert.equal(spawnSync('truncate', ['-s', '2G', file]).status, 0); // sparse: room for the renter image
  const mkfs = spawnSync('mkfs.xfs', ['-q', file], { encoding: 'utf8' });
  assert.equal(mkfs.status, 0, `mkfs.xfs (xfsprogs, which scripts/setup.sh installs): ${mkfs.stderr}`);
  if (spawnSync('mount', ['-o', 'loop,pquota', file, dir]).status === 0) return { quota: true };
  assert.equal(spawnSync('mount', ['-o', 'loop', file, dir]).status, 0, `mount ${file}`);
  return { quota: false };
}

/** Whether this kernel mounts XFS with project quotas, asked of a throw-away filesystem. */
function kernelHasXfsQuota(): boolean {
  const dir = tempDir('xfs-probe');
  dirs.push(dir);
  return mountXfs(join(dir, 'probe.xfs'), join(dir, 'mnt')).quota;
}

test("configure-disk-quota.sh (install-agent.sh --disk-quota) puts Docker's data root on XFS with project quotas, or changes nothing on a kernel without them", () => {
  const quota = kernelHasXfsQuota();
  const dir = tempDir('disk-quota');
  dirs.push(dir);
  const daemonJson = join(dir, 'daemon.json');
  writeFileSync(daemonJson, '{ "log-level": "warn" }\n');
  const mount = join(dir, 'docker');
  const r = spawnSync(
    'bash',
    [
      join(root, 'scripts/configure-disk-quota.sh'),
      '--size',
      '512M',
      '--file',
      join(dir, 'docker.xfs'),
      '--mount',
      mount,
      '--daemon-json',
      daemonJson,
      '--no-restart',
    ],
    { encoding: 'utf8' },
  );
  const options = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', mount], { encoding: 'utf8' }).stdout;
  if (quota) {
    assert.equal(r.status, 0, r.stderr);
    assert.match(options, /^xfs .*prjquota/);
    assert.deepEqual(JSON.parse(readFileSync(daemonJson, 'utf8')), { 'log-level': 'warn', 'data-root': mount });
  } else {
    assert.equal(r.status, 1);
    assert.match(r.stderr, /this kernel cannot mount XFS with project quotas .*CONFIG_XFS_QUOTA.*Docker is unchanged/);
    assert.equal(options, '', 'nothing is left mounted');
    assert.equal(readFileSync(daemonJson, 'utf8'), '{ "log-level": "warn" }\n', 'daemon.json is untouched');
  }
});

test("the agent caps renters' / exactly where the engine's overlay2 takes a size, and reads a real engine's storage to know", async () => {
  // The tests' engine: its storage is read from docker info, and no size is tried off XFS.
  const shared = await docker.info();
  assert.equal(await rootDiskCap(docker, renterImage), overlayOnXfs(shared) && kernelHasXfsQuota() ? rentalSystemDiskBytes : null);

  // An engine of the test's own whose data root is XFS: with project quotas if the kernel has them.
  engine = new PrivateDockerEngine();
  const { quota } = mountXfs(join(engine.dir, 'data.xfs'), join(engine.dir, 'root'));
  await engine.start();
  const info = await engine.docker.info();
  assert.ok(overlayOnXfs(info), `overlay2 on xfs, as docker info says: ${JSON.stringify(info.DriverStatus)}`);
  await engine.loadRenterImage();
  // Without project quotas the engine refuses a size ("--storage-opt is supported only for overlay over xfs with 'pquota'"): no cap.
  assert.equal(await rootDiskCap(engine.docker, renterImage), quota ? rentalSystemDiskBytes : null);
  assert.deepEqual(await engine.docker.listContainers({ all: true }), [], 'the probe container is gone');
});
