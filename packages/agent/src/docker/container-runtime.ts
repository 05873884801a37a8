import type Docker from 'dockerode';
import { DockerEngineInfo } from '@p2pvps/protocol/docker-engine';

/** The OCI runtimes an owner may choose for renter containers (the agent option `runtime`). */
export const containerRuntimes = ['runc', 'runsc'] as const;
export type ContainerRuntime = (typeof containerRuntimes)[number];

/** The chosen runtime as this engine runs it: what renter containers' HostConfig needs. */
export interface RuntimeOnEngine {
  runtime: ContainerRuntime;
  /** The engine runs with userns-remap (`docker info` lists `name=userns`). */
  usernsRemap: boolean;
}

/** The engine cannot run renter containers under the runtime the owner chose. */
export class RuntimeUnavailable extends Error {
  override name = 'RuntimeUnavailable';
}

const gvisorHelp =
  'install gVisor and register it with the engine: "sudo /opt/p2pvps-agent/scripts/configure-gvisor.sh" (scripts/ of the agent\'s folder; install-agent.sh --gvisor runs it) does both; ' +
  'by hand, "apt-get install runsc", then add to /etc/docker/daemon.json ' +
  '"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}} ' +
  'and reload the engine (systemctl reload docker)';

/**
 * Checks at agent start that the engine knows the runtime the owner chose, so a missing
 * gVisor is one clear message at start, not a failed container start on the first rental.
 */
export async function checkRuntime(docker: Docker, runtime: ContainerRuntime): Promise<RuntimeOnEngine> {
  const info = DockerEngineInfo.parse(await docker.info());
  const usernsRemap = info.SecurityOptions.some((o) => o.split(',').includes('name=userns'));
  const known = Object.keys(info.Runtimes);
  const registered = info.Runtimes[runtime];
  // runc is built into every engine; older ones list it only as the default.
  if (runtime === 'runc' && (registered || info.DefaultRuntime === 'runc' || known.length === 0)) return { runtime, usernsRemap };
  if (!registered)
    throw new RuntimeUnavailable(
      `the agent option runtime is "${runtime}", but the Docker engine has no runtime of that name (it has: ${known.join(', ') || 'none listed'}); ` +
        (runtime === 'runsc' ? gvisorHelp : 'register it in /etc/docker/daemon.json and reload the engine') +
        `, or set "runtime": "runc" in device-config.json`,
    );
  if (runtime === 'runsc' && (registered.runtimeArgs ?? []).includes('--network=none'))
    throw new RuntimeUnavailable(
      'the Docker engine runs runsc with --network=none: renter containers would have no network, so sshd could not be reached; ' +
        "use --network=host in its runtimeArgs in /etc/docker/daemon.json (Debian's runsc refuses its own network stack on current kernels) and reload the engine",
    );
  return { runtime, usernsRemap };
}

/**
 * What a renter container's HostConfig needs for its runtime, beyond the usual limits.
 *
 * Under runsc (gVisor) the renter's programs run on gVisor's own kernel, never the host's.
 * Debian's runsc is run with --network=host: gVisor's sandbox then uses the host kernel's
 * network stack inside the container's own network namespace (Docker's bridge, published
 * ports and the agent's firewall chains all as with runc). In that mode Docker's sysctl
 * net.ipv4.ip_unprivileged_port_start=0 is not applied, so binding ports below 1024 (sshd
 * on 22, the renter's 80 and 443) needs CAP_NET_BIND_SERVICE, checked by gVisor itself.
 * And that runsc cannot start a networked sandbox inside Docker's user namespace ("error
 * setting up chroot: ... operation not permitted"), so on a userns-remap engine the
 * container opts out of the remap: root in it is gVisor's emulated root, not a host user.
 */
export function runtimeHostConfig(r: RuntimeOnEngine): { Runtime: string; CapAdd: string[]; UsernsMode?: string } {
  if (r.runtime === 'runc') return { Runtime: 'runc', CapAdd: [] };
  return { Runtime: 'runsc', CapAdd: ['NET_BIND_SERVICE'], ...(r.usernsRemap ? { UsernsMode: 'host' } : {}) };
}
