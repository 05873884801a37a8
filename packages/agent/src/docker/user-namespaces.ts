import { chown } from 'node:fs/promises';
import { DockerEngineInfo } from '@p2pvps/protocol/agent-schemas';

/** The host user and group that root inside a container runs as on an engine with `userns-remap`. */
export interface RemappedRoot {
  uid: number;
  gid: number;
}

/**
 * Whether the renter may be root in their container, read from the engine's `docker info`.
 *
 * Root inside is safe only when it is nobody on the host: dockerd's `userns-remap` maps the
 * container's uid 0 to an unprivileged range (Docker's "dockremap" user, 100000 and up by
 * default). Docker then keeps its data under a root dir named after that mapping
 * (`/var/lib/docker/100000.100000`), which is where the uid and gid are read from: it is the
 * engine's own word for the mapping it uses, whatever /etc/subuid says on this machine.
 *
 * Returns the mapping, or null when the engine runs containers' root as the host's root
 * (no user namespaces): the renter then gets no root, no sudo and no root login.
 */
export function remappedRootOf(info: unknown): RemappedRoot | null {
  const parsed = DockerEngineInfo.safeParse(info);
  if (!parsed.success) return null;
  const { SecurityOptions, DockerRootDir } = parsed.data;
  if (!SecurityOptions.some((o) => o.split(',').includes('name=userns'))) return null;
  const ids = /\/(\d+)\.(\d+)\/?$/.exec(DockerRootDir);
  if (!ids) return null;
  const [uid, gid] = [Number(ids[1]), Number(ids[2])];
  // A "remapping" to the host's root is none at all.
  return uid > 0 && gid > 0 ? { uid, gid } : null;
}

/** What the owner is told when the engine cannot give the renter root safely. */
export const noRootWarning =
  'the Docker engine does not map containers\' root to an unprivileged user (no "userns-remap" in /etc/docker/daemon.json), ' +
  'so renters get an ordinary account without root or sudo; scripts/install-agent.sh configures it (then restart docker)';

/**
 * Hands the renter storage's /home to the container's root: a fresh ext4 filesystem belongs
 * to the host's root, which inside a remapped container is "nobody", so the container's root
 * could not make the renter's home directory. Only the top directory changes owner; what the
 * renter makes below it is theirs already.
 */
export async function giveHomeToRemappedRoot(homeDir: string, root: RemappedRoot): Promise<void> {
  await chown(homeDir, root.uid, root.gid);
}
