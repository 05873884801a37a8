import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeAllContainers, removeEngineDir } from './docker-engine.ts';
import { renterImage, tempDir, waitFor } from './harness.ts';

export interface NetnsEngineOptions {
  /** dockerd --userns-remap=default: root in a container is an unprivileged host user. */
  usernsRemap?: boolean;
  /** The engine's daemon.json (runtimes, say); none when absent. */
  daemonJson?: object;
}

/**
 * A Docker engine of the test's own inside a network namespace the test makes: its
 * dockerd, default bridge, the agent's renter bridge, published ports and firewall rules
 * all live in that namespace, so the private addresses Docker gives its bridges are the
 * test's own and nothing reaches the machine's network. This is the production path
 * (bridge networking, ports published on the namespace's loopback) on a real engine.
 *
 * The engine is started with nsenter, not `ip netns exec`: the latter remounts /sys and
 * hides the cgroup v1 mounts, and dockerd then fails ("Devices cgroup isn't mounted").
 * Code that must see the engine's loopback (the agent, ssh) runs through `command()`.
 */
export class NetnsDockerEngine {
  readonly name = `p2pvps-t${randomBytes(4).toString('hex')}`;
  readonly dir = tempDir('netns-dockerd');
  readonly socket = join(this.dir, 'docker.sock');
  readonly docker = new Docker({ socketPath: this.socket });
  private process: ChildProcess | undefined;

  constructor(private readonly options: NetnsEngineOptions = {}) {
    // Under userns-remap the remapped root must be able to pass through the data root's parents.
    chmodSync(this.dir, 0o711);
  }

  get netnsPath(): string {
    return `/var/run/netns/${this.name}`;
  }

  async start(): Promise<void> {
    run('ip', ['netns', 'add', this.name]);
    run('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
    const args = [
      `--data-root=${join(this.dir, 'root')}`,
      `--exec-root=${join(this.dir, 'exec')}`,
      `--pidfile=${join(this.dir, 'dockerd.pid')}`,
      `--host=unix://${this.socket}`,
    ];
    if (this.options.usernsRemap) args.push('--userns-remap=default');
    if (this.options.daemonJson) {
      writeFileSync(join(this.dir, 'daemon.json'), JSON.stringify(this.options.daemonJson));
      args.push(`--config-file=${join(this.dir, 'daemon.json')}`);
    }
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    this.process = spawn('nsenter', [`--net=${this.netnsPath}`, 'dockerd', ...args], { stdio: ['ignore', log, log] });
    const exited = new Promise<never>((_, reject) =>
      this.process!.once('exit', (code) => reject(new Error(`dockerd in ${this.name} exited with ${code}: ${this.logTail()}`))),
    );
    await Promise.race([
      waitFor(`the Docker engine in ${this.name} to answer`, () => this.docker.ping().then(() => true), 60_000, 200),
      exited,
    ]);
  }

  /** Copies the renter image in from the shared engine (docker save | docker load). */
  async loadRenterImage(): Promise<void> {
    const r = spawnSync('sh', ['-c', `docker save "${renterImage}" | docker -H "unix://${this.socket}" load`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`could not copy ${renterImage} into the engine in ${this.name}: ${r.stderr}`);
  }

  /** argv that runs a command inside the namespace (for spawn), beside the engine. */
  command(cmd: string, args: string[]): [string, string[]] {
    return ['nsenter', [`--net=${this.netnsPath}`, cmd, ...args]];
  }

  /** Runs a command inside the namespace and collects its output. */
  exec(
    cmd: string,
    args: string[],
    opts: SpawnOptions & { timeoutMs?: number } = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const [c, a] = this.command(cmd, args);
    return new Promise((resolve) => {
      const child = spawn(c, a, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Removes every container, stops the engine, deletes its directory and the namespace. */
  async destroy(): Promise<void> {
    const p = this.process;
    if (p && p.exitCode === null) {
      await removeAllContainers(this.docker);
      const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(timer);
    }
    removeEngineDir(this.dir);
    spawnSync('ip', ['netns', 'del', this.name]);
  }

  logTail(lines = 5): string {
    try {
      return readFileSync(join(this.dir, 'dockerd.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
}
