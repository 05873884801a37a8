import { fork, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitForPort } from './net.ts';

/**
 * Every process the bench starts, so all of them are stopped on the way out, including
 * on a failure or Ctrl-C. Each is stopped by its own PID; sshd's per-connection children
 * leave its process group (setsid), so they are found by parent PID instead.
 */
export class Processes {
  private readonly children = new Set<ChildProcess>();

  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
    return this.track(child);
  }

  /** Starts a server and waits until it accepts on `port`; throws with its stderr if it never does. */
  async spawnListening(name: string, command: string, args: readonly string[], port: number): Promise<ChildProcess> {
    const child = this.spawn(command, args);
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    try {
      await waitForPort(port, 10_000, () => child.exitCode === null);
    } catch (err) {
      await this.stop(child);
      throw new Error(`${name} did not start: ${(err as Error).message} ${stderr.trim()}`);
    }
    return child;
  }

  /** A TypeScript module of the bench in its own Node process, with an IPC channel. */
  fork(module: URL, env: Record<string, string> = {}, execArgv: string[] = []): ChildProcess {
    const child = fork(fileURLToPath(module), [], {
      execArgv: ['--import', 'tsx', ...execArgv],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return this.track(child);
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  /** Stops one child (and its direct children): SIGTERM, then SIGKILL after `graceMs`. */
  async stop(child: ChildProcess, graceMs = 2_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const orphans = childPids(child.pid);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    for (const pid of orphans) signal(pid, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
  }
}

/** Direct children of `pid`, read from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces; the parent PID follows it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Resolves with the first message of `type` from a forked child; rejects if it exits first. */
export function message<T extends { type: string }>(child: ChildProcess, type: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${type}" from child ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: T) => {
      if (m?.type === type) done(undefined, m);
      else if (m?.type === 'error') done(new Error(`child ${child.pid}: ${(m as unknown as { message: string }).message}`));
    };
    const onExit = (code: number | null) => done(new Error(`child ${child.pid} exited (${code}) before sending "${type}"`));
    const done = (err?: Error, m?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** `pid` and all its descendants, from /proc. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childPids(out[i]!));
  return out;
}

/** CPU time (user + system, in seconds) the processes have used so far; those gone meanwhile count 0. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return ticks / 100;
}
