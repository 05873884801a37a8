import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import type Docker from 'dockerode';
import type { RentalLimits } from '../rental-offer.ts';
import type { runtimeHostConfig } from './container-runtime.ts';
import type { BindMount } from './lxcfs.ts';
import type { RemappedRoot } from './user-namespaces.ts';

/**
 * The configuration of a renter container: what it may do (capabilities, limits), where its
 * services listen, and what it is told. docker/renter-containers.ts creates containers from it.
 */

/**
 * The agent's own Docker network for renter containers. Its bridge has a fixed name, so the
 * firewall rules and bandwidth caps of network/isolation.ts can be keyed on it; containers on
 * it cannot talk to each other (icc off), and their DNS goes through Docker's embedded
 * resolver, so a container never needs to reach the home router's DNS itself.
 */
export const renterNetworkName = 'p2pvps-renter';
export const labelDevice = 'org.p2pvps.device';
export const labelRental = 'org.p2pvps.rental';

/** Loopback ports where the container's sshd, port 80 and port 443 are reached. */
export interface ServicePorts {
  sshPort: number;
  httpPort: number;
  httpsPort: number;
}

/** What the engine and the agent's options decide for every container. */
export interface EngineSide {
  image: string;
  deviceId: string;
  network: 'bridge' | 'host';
  ports: ServicePorts;
  runtime: ReturnType<typeof runtimeHostConfig>;
  lxcfs: BindMount[];
  /** The cap on the container's own layer (its /, apart from /home), or null where the engine cannot cap it (root-disk.ts). */
  rootDiskBytes: number | null;
}

/** What one container is: a rental's own, or one prepared for the next renter. */
export interface ContainerShape {
  name: string;
  hostname: string;
  env: string[];
  labels: Record<string, string>;
  homeDir: string;
  limits: RentalLimits;
  root: RemappedRoot | null;
  /**
   * A deployment package that needs a TUN device (a user-space VPN): /dev/net/tun and
   * NET_ADMIN, which act in the container's own network namespace. Only with a remapped root.
   */
  tun?: boolean;
}

/**
 * Without root for the renter, sshd needs these to switch to the renter and chroot its
 * privilege separation; nothing more.
 */
const userCapabilities = ['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE', 'FOWNER', 'SYS_CHROOT', 'AUDIT_WRITE', 'KILL'];
/**
 * With root for the renter (only on an engine that remaps root to an unprivileged host user,
 * see user-namespaces.ts), what a root user of a VPS does: install packages (dpkg sets file
 * owners, modes, setuid bits and file capabilities: CHOWN, FOWNER, FSETID, SETFCAP), add users
 * and switch to them (SETUID, SETGID; SETPCAP so daemons can drop capabilities), serve on 80
 * and 443 (NET_BIND_SERVICE), kill their own processes, chroot. Under the user namespace these
 * act only on the container's own files and processes. Left out of Docker's default set:
 * MKNOD (no device nodes: nothing of the host's disks can be opened) and NET_RAW (no raw
 * packets or spoofed addresses; ping still works through unprivileged ICMP sockets, which
 * Docker allows in every container). Never SYS_ADMIN, SYS_MODULE, SYS_PTRACE or NET_ADMIN.
 */
const rootCapabilities = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'SETFCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'AUDIT_WRITE',
];
/**
 * Open files per process. Docker's default is the engine's own limit (often 1048576), so one
 * renter process could hold a million files and use up the device's system-wide file table
 * (fs.file-max, a few hundred thousand on a Pi), starving the agent and the owner's own
 * services. 1024 is what programs expect by default (select() breaks above it); a renter may
 * raise it up to 16384, room for a busy web server on a Pi.
 */
const nofile = { Name: 'nofile', Soft: 1024, Hard: 16384 };

/** One renter container's configuration, the same for a rental's own and a prepared one. */
export function renterContainerConfig(e: EngineSide, c: ContainerShape): Docker.ContainerCreateOptions {
  const { network, runtime } = e;
  const { sshPort, httpPort, httpsPort } = e.ports;
  const { limits, root } = c;
  const memoryMb = Math.floor(limits.memoryBytes / (1024 * 1024));
  const host = network === 'host';
  const publish = (port: number) => [{ HostIp: '127.0.0.1', HostPort: String(port) }];
  return {
    name: c.name,
    Image: e.image,
    Hostname: host ? undefined : c.hostname,
    Env: c.env,
    Labels: { [labelDevice]: e.deviceId, ...c.labels },
    ExposedPorts: host ? undefined : { '22/tcp': {}, '80/tcp': {}, '443/tcp': {} },
    HostConfig: {
      NetworkMode: host ? 'host' : renterNetworkName,
      PortBindings: host ? undefined : { '22/tcp': publish(sshPort), '80/tcp': publish(httpPort), '443/tcp': publish(httpsPort) },
      // The generated user (root or not) may serve on 80 and 443 in the container's own network namespace.
      Sysctls: host ? undefined : { 'net.ipv4.ip_unprivileged_port_start': '0' },
      // What was rented: the cores as a cpuset (so nproc agrees) and as CPU time, the memory with no swap beyond it.
      CpusetCpus: limits.cpuset,
      NanoCpus: limits.nanoCpus,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      PidsLimit: limits.pidsLimit,
      Ulimits: [nofile],
      CapDrop: ['ALL'],
      CapAdd: [...new Set([...(root ? rootCapabilities : userCapabilities), ...runtime.CapAdd, ...(root && c.tun ? ['NET_ADMIN'] : [])])],
      Devices: root && c.tun ? [{ PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' }] : undefined,
      Runtime: runtime.Runtime,
      UsernsMode: runtime.UsernsMode,
      // no-new-privileges would make sudo (setuid) useless, which is the point of it when the
      // renter is not root. With root the container's root is the ceiling anyway, and it is
      // an unprivileged user on the host; seccomp and AppArmor stay Docker's defaults.
      SecurityOpt: root ? [] : ['no-new-privileges'],
      Privileged: false,
      // Scratch space in memory (tmpfs, counted in the memory limit). Without root the image
      // leaves only these world-writable; with root the renter also writes the container's
      // own layer (apt-get install), on the Docker engine's disk, capped where it can be (StorageOpt).
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,mode=1777,size=${Math.max(16, Math.floor(memoryMb / 4))}m`,
        '/var/tmp': `rw,nosuid,nodev,mode=1777,size=${Math.max(16, Math.floor(memoryMb / 8))}m`,
        '/run/lock': 'rw,nosuid,nodev,noexec,mode=1777,size=1m',
      },
      // sshd's log is the container's output: bounded, so logins cannot fill the disk either.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
      // A bind mount, not a volume: the filesystem's size is the renter's quota, and the
      // agent wipes it. After a reboot dockerd cannot restart the container before the
      // agent has mounted the storage, since the source does not exist until then.
      // LXCFS's files over /proc/meminfo and the rest: free and top inside show the rental's limits, not the device's.
      Mounts: [{ Type: 'bind', Source: c.homeDir, Target: '/home' }, ...e.lxcfs],
      // The system's room on /: an XFS project quota on the container's layer, which df / shows as its size.
      StorageOpt: e.rootDiskBytes === null ? undefined : { size: String(e.rootDiskBytes) },
      RestartPolicy: { Name: 'unless-stopped' },
    },
  };
}

/**
 * What every renter container is told, with no secret in it: where its services listen (on
 * its own network the standard ports; sharing the host's, in tests, the agent's loopback
 * ports) and whether the renter is root.
 */
export function serviceEnv(network: 'bridge' | 'host', ports: ServicePorts, root: RemappedRoot | null): string[] {
  const { sshPort, httpPort, httpsPort } = ports;
  const host = network === 'host';
  return [
    `P2PVPS_SSH_PORT=${host ? sshPort : 22}`,
    `P2PVPS_SSH_LISTEN=${host ? '127.0.0.1' : '0.0.0.0'}`,
    `P2PVPS_HTTP_PORT=${host ? httpPort : 80}`,
    `P2PVPS_HTTPS_PORT=${host ? httpsPort : 443}`,
    ...(root ? ['P2PVPS_ROOT=1'] : []),
  ];
}

/**
 * The renter's account settings, as the entrypoint reads them: the container's environment
 * for a container started for the rental, the pipe of a prepared one (handOver). The password
 * is a crypt(3) hash: the device never gets the password, and `docker inspect` shows nothing
 * to log in with.
 */
export function renterEnv(rental: DesiredRental): string[] {
  const env = [`P2PVPS_USER=${rental.username}`, `P2PVPS_PASSWORD_HASH=${rental.passwordHash}`];
  if (rental.authorizedKey) env.push(`P2PVPS_AUTHORIZED_KEY=${rental.authorizedKey}`);
  return env;
}
