import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { dockerSocket, renterImage, tempDir, waitFor } from './harness.ts';

/**
 * A Docker engine of the test's own, for tests that stop and restart the engine: the
 * shared one serves every other test running on the machine, so it is never touched.
 * Started like scripts/setup.sh starts the machine's own engine (no default bridge, no
 * firewall rules: renter containers use host networking on loopback ports, of the network
 * namespace the test runs in), so it never competes with the tests' engine for the renter
 * bridge or the firewall; its own data root, exec root, socket and managed containerd are
 * under a temp dir. The renter image is copied in from the tests' engine.
 */
export class PrivateDockerEngine {
  /** Its renter containers' networking: it has no bridges. */
  readonly network = 'host' as const;
  readonly dir = tempDir('dockerd');
  readonly socket = join(this.dir, 'docker.sock');
  readonly docker = new Docker({ socketPath: this.socket });
  private process: ChildProcess | undefined;

  private get args(): string[] {
    return [
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      `--data-root=${join(this.dir, 'root')}`,
      `--exec-root=${join(this.dir, 'exec')}`,
      `--pidfile=${join(this.dir, 'dockerd.pid')}`,
      `--host=unix://${this.socket}`,
    ];
  }

  async start(): Promise<void> {
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    this.process = spawn('dockerd', this.args, { stdio: ['ignore', log, log] });
    const exited = new Promise<never>((_, reject) =>
      this.process!.once('exit', (code) => reject(new Error(`dockerd exited with ${code}: ${this.logTail()}`))),
    );
    await Promise.race([waitFor('the private Docker engine to answer', () => this.docker.ping().then(() => true), 60_000, 200), exited]);
  }

  /** Copies the renter image in from the shared engine (docker save | docker load). */
  async loadRenterImage(): Promise<void> {
    const r = spawnSync('sh', ['-c', `docker -H "unix://${dockerSocket}" save "${renterImage}" | docker -H "unix://${this.socket}" load`], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`could not copy ${renterImage} into the private engine: ${r.stderr}`);
  }

  /** Stops the engine as a shutdown would (its containers stop with it), waiting until it is gone. */
  async stop(): Promise<void> {
    const p = this.process;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Removes every container, stops the engine, and deletes its directory. */
  async destroy(): Promise<void> {
    if (this.process?.exitCode === null) {
      await removeAllContainers(this.docker);
      await this.stop();
    }
    removeEngineDir(this.dir);
  }

  private logTail(): string {
    try {
      return readFileSync(join(this.dir, 'dockerd.log'), 'utf8').split('\n').slice(-5).join('\n');
    } catch {
      return '';
    }
  }
}

/** Removes every container of a test's private engine, whatever state it is in. */
export async function removeAllContainers(docker: Docker): Promise<void> {
  for (const c of await docker.listContainers({ all: true }).catch(() => [])) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}

/**
 * Deletes a stopped test engine's directory. overlay2 leaves mounts under the data root only
 * while containers run; any left are unmounted first, deepest first.
 */
export function removeEngineDir(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
