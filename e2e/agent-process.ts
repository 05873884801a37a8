import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storageMountDir } from '@p2pvps/agent/storage/renter-storage';
import { containerNetwork, dockerSocket, portBlock, renterImage, tempDir, type TestServer } from './harness.ts';

/**
 * The agent as its own process, as a device runs it: `built` is what the installed unit
 * and scripts/demo start (packages/agent/bin/p2pvps-agent, the bundle npm run build:agent
 * writes, with its Node flags); `tsx` is the TypeScript through the tsx loader, as every
 * agent ran before the bundle. The harness's createAgent runs the Agent class inside the
 * test's process instead, which is what most tests want.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
export const builtAgentBin = join(root, 'packages/agent/bin/p2pvps-agent');
export const builtAgentBundle = join(root, 'packages/agent/dist/agent.mjs');

export type AgentCommand = 'built' | 'tsx';

export interface AgentProcess {
  pid: number;
  dataDir: string;
  /** The loopback port of the container's sshd. */
  containerSshPort: number;
  /** What the agent wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then waits for the exit; resolves with its code. Idempotent. */
  stop(): Promise<number | null>;
  /** Unmounts the renter storage and removes the data dir (after stop and the containers' removal). */
  clean(): void;
}

export function agentArgv(command: AgentCommand, configFile: string): { file: string; args: string[] } {
  if (command === 'built') return { file: builtAgentBin, args: ['--config', configFile] };
  return { file: process.execPath, args: ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), 'agent', '--config', configFile] };
}

export function startAgentProcess(
  server: TestServer,
  enrolmentToken: string,
  opts: { command: AgentCommand; deviceConfig?: Record<string, unknown>; env?: Record<string, string> },
): AgentProcess {
  if (opts.command === 'built' && !existsSync(builtAgentBundle))
    throw new Error(`${builtAgentBundle} is missing: run npm run build:agent (scripts/setup.sh does)`);
  const dataDir = tempDir('agent-process');
  const configFile = join(dataDir, 'device-config.json');
  const containerSshPort = portBlock(3);
  writeFileSync(
    configFile,
    JSON.stringify({
      serverUrl: `http://127.0.0.1:${server.httpPort}`,
      enrolmentToken,
      dataDir,
      storage: { kind: 'image', sizeMiB: 64 },
      wipe: 'discard',
      ...opts.deviceConfig,
    }),
    { mode: 0o600 },
  );
  const { file, args } = agentArgv(opts.command, configFile);
  const child: ChildProcess = spawn(file, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      P2PVPS_CONTAINER_NETWORK: containerNetwork,
      P2PVPS_CONTAINER_SSH_PORT: String(containerSshPort),
      P2PVPS_CONTAINER_HTTP_PORT: String(containerSshPort + 1),
      P2PVPS_CONTAINER_HTTPS_PORT: String(containerSshPort + 2),
      P2PVPS_RENTER_IMAGE: renterImage,
      P2PVPS_DOCKER_SOCKET: dockerSocket,
      // As the installed unit runs it: tsx compiles afresh at every start.
      TSX_DISABLE_CACHE: '1',
      ...opts.env,
    },
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    dataDir,
    containerSshPort,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    clean() {
      spawnSync('umount', [storageMountDir(dataDir)]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Resident memory of a process from /proc/PID/status, in KiB: now (VmRSS), its peak so far
 * (VmHWM), and what VmRSS is made of: the process's own memory (RssAnon: heaps, stacks) and
 * the pages of files it maps (RssFile: mostly the node binary's code and data, shared with any
 * other process that maps them).
 */
export function residentMemory(pid: number): { rssKiB: number; peakKiB: number; anonKiB: number; fileKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), peakKiB: field('VmHWM'), anonKiB: field('RssAnon'), fileKiB: field('RssFile') };
}

/** CPU time a process has used (user + system), in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
