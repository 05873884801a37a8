import { DockerEngineInfo } from '@p2pvps/protocol/docker-engine';
import { rentalSystemDiskBytes } from '@p2pvps/protocol/device-schemas';
import type Docker from 'dockerode';

/**
 * The cap on a renter's / (the container's own layer: what root installs with apt-get, logs,
 * /etc). The renter's /home is the renter storage, whose filesystem size caps it; / lies on
 * the Docker engine's disk. overlay2 caps a container's layer (`StorageOpt.size`, an XFS
 * project quota on its upper directory, which `df /` inside then shows as the size) only
 * when the engine's data root is XFS mounted with project quotas (`pquota`);
 * `install-agent.sh --disk-quota SIZE` puts it on one. Elsewhere / is not capped, and the
 * owner is told once.
 */

/** Whether the engine's storage is overlay2 on XFS, the one place it may take a size. */
export function overlayOnXfs(info: unknown): boolean {
  const parsed = DockerEngineInfo.safeParse(info);
  if (!parsed.success || parsed.data.Driver !== 'overlay2') return false;
  return parsed.data.DriverStatus.some(([key, value]) => key === 'Backing Filesystem' && value === 'xfs');
}

/**
 * The size to cap renters' / at on this engine, or null when it cannot. On XFS the engine
 * still refuses a size unless the filesystem is mounted with project quotas, and nothing in
 * `docker info` says so: a container is created with a size (never started) and removed.
 */
export async function rootDiskCap(docker: Docker, image: string): Promise<number | null> {
  if (!overlayOnXfs(await docker.info())) return null;
  try {
    const probe = await docker.createContainer({
      Image: image,
      Entrypoint: ['/bin/true'],
      Labels: { 'org.p2pvps.probe': 'root-disk' },
      HostConfig: { StorageOpt: { size: String(rentalSystemDiskBytes) } },
    });
    await probe.remove({ force: true });
    return rentalSystemDiskBytes;
  } catch (err) {
    if (/storage-opt|quota/i.test((err as Error).message)) return null;
    throw err;
  }
}

/** What the owner is told when renters' / cannot be capped. */
export const uncappedRootWarning =
  "renters' / (what root installs, logs) is not capped and shares the device's disk: the Docker engine's storage is not " +
  'overlay2 on XFS with project quotas; scripts/install-agent.sh --disk-quota SIZE puts it on one (then restart docker)';
