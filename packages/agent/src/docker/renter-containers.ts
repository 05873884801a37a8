import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect } from 'node:net';
import { cpus } from 'node:os';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import type { Offer } from '@p2pvps/protocol/device-schemas';
import Docker from 'dockerode';
import { renterBridge } from '../network/isolation.ts';
import { runtimeHostConfig, type RuntimeOnEngine } from './container-runtime.ts';
import { rentalLimits, type RentalLimits } from '../rental-offer.ts';
import type { BindMount } from './lxcfs.ts';
import {
  labelDevice,
  labelRental,
  renterContainerConfig,
  renterEnv,
  renterNetworkName,
  serviceEnv,
  type ContainerShape,
} from './container-config.ts';
import { giveHomeToRemappedRoot, noRootWarning, remappedRootOf, type RemappedRoot } from './user-namespaces.ts';
import { rootDiskCap } from './root-disk.ts';

export { renterNetworkName };

export interface ContainerLimits {
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
}

export interface RenterContainersOptions {
  docker: Docker;
  deviceId: string;
  image: string;
  network: 'bridge' | 'host';
  /** Loopback ports where the container's sshd, port 80 and port 443 are reached. */
  sshPort: number;
  httpPort: number;
  httpsPort: number;
  /** Used when the server sends no offer with the rental (an older server). */
  limits: ContainerLimits;
  /** The OCI runtime (the agent option `runtime`, checked against the engine at start); runc when absent. */
  runtime?: RuntimeOnEngine;
  /** LXCFS's files to mount over the container's /proc and /sys ones (docker/lxcfs.ts); none without LXCFS. */
  lxcfs?: BindMount[];
  /** The host's CPUs (os.cpus() unless a test says otherwise): the cpusets are taken from them. */
  hostCores?: number;
  log: (msg: string) => void;
}

/** Marks a prepared container (see prepare): made before any rental, it belongs to none until handOver. */
const labelPrepared = 'org.p2pvps.prepared';
/** What a prepared container's entrypoint (images/renter/await-renter.sh) writes once the renter can log in. */
const handedOverLine = 'p2pvps: handed over to ';
/**
 * images/renter of the checkout or installation the agent runs from, the nearest above
 * this file: a source file in a checkout, the bundle (packages/agent/dist/agent.mjs) on a
 * device, at different depths.
 */
function renterImageDir(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'images/renter/Dockerfile'))) return join(dir, 'images/renter');
    if (dirname(dir) === dir) return fileURLToPath(new URL('../../../../images/renter', import.meta.url));
  }
}
const dockerfileDir = renterImageDir();
const offlineBuilder = join(dockerfileDir, 'build-offline.sh');

/**
 * What the renter image is built from, as build-offline.sh and scripts/setup.sh label it
 * (`org.p2pvps.source`): an updated agent whose entrypoint changed (say, to take a password
 * hash) must not start containers from an image made for the older one.
 */
export function renterImageSource(dir = dockerfileDir): string {
  const h = createHash('sha256');
  for (const f of [
    'Dockerfile',
    'entrypoint.sh',
    'await-renter.sh',
    'sshd.sh',
    'build-offline.sh',
    'offline-repo.sh',
    'offline-packages.txt',
  ])
    h.update(readFileSync(`${dir}/${f}`));
  return h.digest('hex').slice(0, 16);
}

/** Renter containers on the local Docker engine: one per rental, destroyed at its end. */
export class RenterContainers {
  /** The engine's mapping of containers' root, asked once (see user-namespaces.ts). */
  private remapped: Promise<RemappedRoot | null> | undefined;
  /** The cap on renters' / on this engine, found once (see root-disk.ts). */
  private rootDisk: Promise<number | null> | undefined;

  constructor(private readonly o: RenterContainersOptions) {}

  /**
   * Whether renters get root, and as which host user it runs: only with bridge networking
   * (Docker refuses host networking under user namespaces) on an engine with userns-remap.
   */
  remappedRoot(): Promise<RemappedRoot | null> {
    this.remapped ??= this.o.network === 'bridge' ? this.o.docker.info().then(remappedRootOf) : Promise.resolve(null);
    return this.remapped;
  }

  private runtimeConfig(): ReturnType<typeof runtimeHostConfig> {
    return runtimeHostConfig(this.o.runtime ?? { runtime: 'runc', usernsRemap: false });
  }

  /**
   * The host user the renter's root would be, or null when the renter gets no root. Under
   * gVisor on a remapping engine the container opts out of the remap (container-runtime.ts),
   * so its root would not be remapped: there the renter stays an ordinary user.
   */
  private async renterRoot(): Promise<RemappedRoot | null> {
    if (this.runtimeConfig().UsernsMode === 'host') return null;
    return this.remappedRoot();
  }

  /** A warning for the owner when renters on this engine cannot be root; null when they can. */
  async rootWarning(): Promise<string | null> {
    if (this.o.network === 'host') return null; // the host-networking warning already says it all
    if ((await this.remappedRoot()) && this.runtimeConfig().UsernsMode === 'host')
      return "Renters are not root in their containers: under gVisor on this engine the container cannot use its user namespace, so its root would be the device's.";
    return (await this.renterRoot()) ? null : noRootWarning;
  }

  /** The size renters' / is capped at, or null where the engine cannot cap it. */
  rootDiskCap(): Promise<number | null> {
    this.rootDisk ??= rootDiskCap(this.o.docker, this.o.image).catch((err) => {
      this.rootDisk = undefined; // an engine that failed to answer is asked again next time
      throw err;
    });
    return this.rootDisk;
  }

  /** Creates the renter network unless it exists (bridge networking only); returns its bridge's interface name. */
  async ensureNetwork(): Promise<string> {
    const found = await this.o.docker.listNetworks({ filters: { name: [renterNetworkName] } });
    const existing = found.find((n) => n.Name === renterNetworkName);
    const bridge = existing?.Options?.['com.docker.network.bridge.name'];
    if (existing && bridge !== renterBridge)
      throw new Error(
        `the Docker network ${renterNetworkName} exists but its bridge is not named ${renterBridge}; remove it ("docker network rm ${renterNetworkName}") and the agent makes it anew`,
      );
    if (!existing) {
      await this.o.docker.createNetwork({
        Name: renterNetworkName,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { 'org.p2pvps.network': 'renter' },
        Options: { 'com.docker.network.bridge.name': renterBridge, 'com.docker.network.bridge.enable_icc': 'false' },
      });
      this.o.log(`created the Docker network ${renterNetworkName} (bridge ${renterBridge}) for renter containers`);
    }
    return renterBridge;
  }

  /**
   * Finds the renter image, or builds it: from the Dockerfile if a registry answers, else
   * offline. Our image built from other files than this agent's is built again; an image
   * without our label (an owner's own) is used as it is.
   */
  async ensureImage(): Promise<void> {
    const source = renterImageSource();
    try {
      const info = await this.o.docker.getImage(this.o.image).inspect();
      const built = info.Config?.Labels?.['org.p2pvps.source'];
      if (built === undefined || built === source) return;
      this.o.log(`renter image ${this.o.image} was built for another agent version; building it again`);
    } catch {
      this.o.log(`renter image ${this.o.image} not found; building it`);
    }
    try {
      const stream = await this.o.docker.buildImage(
        {
          context: dockerfileDir,
          src: ['Dockerfile', 'entrypoint.sh', 'await-renter.sh', 'sshd.sh', 'offline-repo.sh', 'offline-packages.txt'],
        },
        { t: this.o.image, labels: { 'org.p2pvps.source': source } },
      );
      await new Promise((resolve, reject) =>
        this.o.docker.modem.followProgress(stream, (err, out) => {
          const failed = out?.find((o: { error?: string }) => o.error);
          return err || failed ? reject(err ?? new Error(failed.error)) : resolve(out);
        }),
      );
      return;
    } catch (err) {
      this.o.log(`Dockerfile build failed (${(err as Error).message.split('\n')[0]}); building offline with debootstrap`);
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn('bash', [offlineBuilder, this.o.image], { stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${offlineBuilder} exited with ${code}`))));
    });
  }

  /**
   * Creates and starts a fresh container for the rental and waits until its sshd answers.
   * `homeDir` (on the renter storage, see storage/renter-storage.ts) becomes its /home.
   */
  async start(rental: DesiredRental, homeDir: string, readyTimeoutMs: number): Promise<string> {
    const root = await this.homeForRenter(homeDir);
    const container = await this.o.docker.createContainer(
      await this.config({
        name: this.nameOf(rental.rentalId),
        hostname: `vps-${rental.rentalId.slice(0, 8)}`,
        env: [...renterEnv(rental), ...this.baseEnv(root)],
        labels: { [labelRental]: rental.rentalId },
        homeDir,
        limits: this.limitsFor(rental.offer),
        root,
        tun: rental.app?.recipe.needs.includes('tun') ?? false,
      }),
    );
    await container.start();
    await this.waitForSshd(container, readyTimeoutMs);
    return container.id;
  }

  /**
   * Creates and starts a container for whoever rents the device next, with the limits of the
   * device's next offer, so a rental starts without waiting for Docker to create a container
   * or for the renter's account: it runs images/renter/await-renter.sh, which makes the host
   * key and the account under a placeholder, starts sshd with nobody able to log in, and
   * waits for handOver. It has no renter's credentials and belongs to no rental; the runner
   * makes one only on freshly wiped storage (rental-runner.ts), and the tunnel delivers no
   * connection to it before it is handed over (tunnel-client.ts). Resolves once its sshd
   * answers, so a hand-over never gives a renter a container whose sshd is still starting.
   */
  async prepare(homeDir: string, offer?: Offer, readyTimeoutMs = 30_000): Promise<string> {
    const root = await this.homeForRenter(homeDir);
    const container = await this.o.docker.createContainer({
      ...(await this.config({
        name: `${this.nameOf('prepared')}-${randomBytes(4).toString('hex')}`,
        hostname: `vps-${randomBytes(4).toString('hex')}`,
        env: this.baseEnv(root),
        labels: { [labelPrepared]: 'true' },
        homeDir,
        limits: this.limitsFor(offer),
        root,
      })),
      Entrypoint: ['/usr/local/sbin/p2pvps-await-renter'],
      // Its stdin stays open until handOver writes the renter's settings and closes it.
      OpenStdin: true,
      StdinOnce: true,
    });
    await container.start();
    try {
      await this.waitForSshd(container, readyTimeoutMs);
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  /**
   * Makes a prepared container the rental's: renamed for it, and handed the renter's account
   * settings on its stdin (attached over the Docker API; never in its config or environment).
   * Its entrypoint (await-renter.sh) has the account and sshd ready under a placeholder, and
   * only writes the renter's name, password hash and key into place, then says so on its
   * output. Attaching, not `docker exec`: no process is started in the container, which took
   * a few hundred ms on a busy device. Resolves once the renter can log in.
   */
  async handOver(containerId: string, rental: DesiredRental, readyTimeoutMs: number): Promise<string> {
    const container = this.o.docker.getContainer(containerId);
    await container.rename({ name: this.nameOf(rental.rentalId) });
    // With hijack the Docker API hands over its socket: a Duplex, not just the stream the types say.
    const io = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream &
      Duplex;
    try {
      const handedOver = new Promise<void>((resolve, reject) => {
        let seen = '';
        io.on('data', (chunk: Buffer) => {
          // The stream is Docker's multiplexed one (8-byte frame headers); the line is short
          // and written at once, so it arrives whole inside one frame.
          seen = (seen + chunk.toString('latin1')).slice(-4096);
          if (seen.includes(handedOverLine)) resolve();
        });
        io.on('error', reject);
        io.on('close', () => reject(new Error('the prepared container closed its output before it was handed over')));
      });
      handedOver.catch(() => undefined);
      // The end closes the container's stdin (StdinOnce), which tells it the settings are complete.
      io.end(`${renterEnv(rental).join('\n')}\n`);
      // The script says so only once the account is in place and its sshd, listening since
      // the container started, still runs: no need to knock on sshd's port too.
      await Promise.race([handedOver, this.exitOrTimeout(container, readyTimeoutMs, handedOver)]);
    } finally {
      io.destroy();
    }
    return container.id;
  }

  /** Rejects when the container exits or the time is up, whichever first, unless `done` settles before. */
  private async exitOrTimeout(container: Docker.Container, timeoutMs: number, done: Promise<void>): Promise<void> {
    let settled = false;
    void done.then(
      () => (settled = true),
      () => (settled = true),
    );
    const deadline = Date.now() + timeoutMs;
    while (!settled && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (settled) return;
      const info = await container.inspect();
      if (!info.State.Running) throw await this.exitError(container, info.State.ExitCode);
    }
    if (!settled) throw new Error(`the prepared container did not take the renter within ${timeoutMs} ms`);
  }

  /** Whether a prepared container is still there, running and not handed over, so it can take a renter. */
  async preparedReady(containerId: string): Promise<boolean> {
    const c = (await this.list()).find((c) => c.Id === containerId);
    return !!c && c.Labels[labelPrepared] === 'true' && this.rentalOf(c) === null && c.State === 'running';
  }

  private nameOf(rentalId: string): string {
    return `p2pvps-${this.o.deviceId}-${rentalId}`;
  }

  private limitsFor(offer: Offer | undefined): RentalLimits {
    return rentalLimits(offer, this.o.limits, this.o.hostCores ?? cpus().length);
  }

  /** The renter's root, if they get one; its /home (on the renter storage) given to it first. */
  private async homeForRenter(homeDir: string): Promise<RemappedRoot | null> {
    const root = await this.renterRoot();
    if (root) await giveHomeToRemappedRoot(homeDir, root);
    return root;
  }

  /** One renter container's configuration (container-config.ts), the same for a rental's own and a prepared one. */
  private async config(c: ContainerShape): Promise<Docker.ContainerCreateOptions> {
    return renterContainerConfig(
      {
        image: this.o.image,
        deviceId: this.o.deviceId,
        network: this.o.network,
        ports: this.o,
        runtime: this.runtimeConfig(),
        lxcfs: this.o.lxcfs ?? [],
        rootDiskBytes: await this.rootDiskCap(),
      },
      c,
    );
  }

  private baseEnv(root: RemappedRoot | null): string[] {
    return serviceEnv(this.o.network, this.o, root);
  }

  private async waitForSshd(container: Docker.Container, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await sshBanner(this.o.sshPort)) return;
      const info = await container.inspect();
      if (!info.State.Running) throw await this.exitError(container, info.State.ExitCode);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sshd in the renter container did not answer on port ${this.o.sshPort} within ${timeoutMs} ms`);
  }

  /** Why a renter container stopped, with the last lines it wrote. */
  private async exitError(container: Docker.Container, code: number): Promise<Error> {
    const logs = (await container.logs({ stdout: true, stderr: true, tail: 5 })).toString('utf8').replace(/[^\x20-\x7e\n]/g, '');
    return new Error(`the renter container exited (code ${code}): ${logs.trim()}`);
  }

  /** The running state of a rental's container: true running, false stopped, null gone. */
  async status(rentalId: string): Promise<{ id: string; running: boolean } | null> {
    const c = (await this.list()).find((c) => this.rentalOf(c) === rentalId);
    return c ? { id: c.Id, running: c.State === 'running' } : null;
  }

  async ensureRunning(rentalId: string, readyTimeoutMs: number): Promise<void> {
    const c = await this.status(rentalId);
    if (!c) throw new Error(`the container of rental ${rentalId} is gone`);
    const container = this.o.docker.getContainer(c.id);
    // A running container's sshd is its first process, or the one a prepared container's
    // first process waits on: if it had died, the container would have stopped.
    if (c.running) return;
    await container.start();
    await this.waitForSshd(container, readyTimeoutMs);
  }

  /** The rental of a container this device already has, if any (after a restart). */
  async existingRentalId(): Promise<string | null> {
    for (const c of await this.list()) {
      const rentalId = this.rentalOf(c);
      if (rentalId) return rentalId;
    }
    return null;
  }

  private list(): Promise<Docker.ContainerInfo[]> {
    return this.o.docker.listContainers({ all: true, filters: { label: [`${labelDevice}=${this.o.deviceId}`] } });
  }

  /**
   * The rental a container of this device is for: its label if it was started for the
   * rental, its name if it was prepared and then handed over; null for a prepared one not
   * yet handed over.
   */
  private rentalOf(c: Docker.ContainerInfo): string | null {
    if (c.Labels[labelRental]) return c.Labels[labelRental];
    const name = (c.Names?.[0] ?? '').replace(/^\//, '');
    const prefix = this.nameOf('');
    if (!name.startsWith(prefix) || name.startsWith(this.nameOf('prepared-'))) return null;
    return name.slice(prefix.length) || null;
  }

  /**
   * Stops every running container of this device at once (SIGKILL, no grace period: while
   * it runs the home network may be open to it), keeping it and its files. Docker's restart
   * policy leaves a container stopped this way alone; ensureRunning starts it again.
   */
  async stopAll(): Promise<string[]> {
    const stopped: string[] = [];
    for (const c of await this.list()) {
      if (c.State !== 'running') continue;
      await this.o.docker.getContainer(c.Id).stop({ t: 0 });
      stopped.push(this.rentalOf(c) ?? 'prepared');
    }
    if (stopped.length) this.o.log(`stopped the renter containers of rentals ${stopped.join(', ')}`);
    return stopped;
  }

  /**
   * Destroys renter containers of this host's earlier identities: labelled with another
   * device ID, and made for this agent's ports (published, or with host networking named in
   * their environment). A device removed and added again gets a new ID, and its old
   * container would hold the ports every new one needs. Other agents sharing the engine
   * (other ports) are left alone.
   */
  async removeEarlierIdentities(): Promise<string[]> {
    const ours = new Set([this.o.sshPort, this.o.httpPort, this.o.httpsPort].map(String));
    const removed: string[] = [];
    for (const c of await this.o.docker.listContainers({ all: true, filters: { label: [labelDevice] } })) {
      if (c.Labels[labelDevice] === this.o.deviceId) continue;
      const container = this.o.docker.getContainer(c.Id);
      const info = await container.inspect().catch(() => null);
      if (!info) continue;
      const bindings = (info.HostConfig.PortBindings ?? {}) as Record<string, { HostPort?: string }[] | null>;
      const published = Object.values(bindings).flatMap((b) => (b ?? []).map((p) => p.HostPort ?? ''));
      const hostPorts =
        info.HostConfig.NetworkMode === 'host'
          ? (info.Config.Env ?? []).map((e) => /^P2PVPS_(?:SSH|HTTP|HTTPS)_PORT=(\d+)$/.exec(e)?.[1]).filter((p) => p !== undefined)
          : [];
      if (![...published, ...hostPorts].some((p) => ours.has(p))) continue;
      await container.remove({ force: true, v: true });
      removed.push(`${c.Labels[labelDevice]}/${c.Labels[labelRental] ?? '?'}`);
    }
    return removed;
  }

  /** Destroys every container of this device except `keepRentalId`'s and the one with `keepContainerId`. */
  async removeAllExcept(keepRentalId: string | null, keepContainerId?: string): Promise<string[]> {
    const removed: string[] = [];
    for (const c of await this.list()) {
      const rentalId = this.rentalOf(c);
      if ((keepRentalId !== null && rentalId === keepRentalId) || c.Id === keepContainerId) continue;
      await this.o.docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(rentalId ?? 'prepared');
    }
    // Also Docker volumes, which agents before the renter storage used for /home.
    const { Volumes } = await this.o.docker.listVolumes({ filters: { label: [`${labelDevice}=${this.o.deviceId}`] } });
    for (const v of Volumes ?? []) {
      if (v.Labels?.[labelRental] !== keepRentalId) await this.o.docker.getVolume(v.Name).remove({ force: true });
    }
    return removed;
  }
}

/** True once something on the port speaks SSH. */
export function sshBanner(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => done(false));
    // Docker's port proxy accepts at once and closes cleanly while nothing in the container
    // listens yet: without this the wait would hang on a connection that never speaks.
    socket.once('close', () => done(false));
  });
}
