/**
 * The agent's footprint on a device: its resident memory idle (enrolled, online, no
 * rental), its peak while a rental starts and while a renter pushes bytes through the
 * tunnel, and its CPU time per GB through the tunnel, each way. The agent runs as its own
 * process, as on a device, beside a real server (in this process), Docker and OpenSSH;
 * the figures come from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat (utime+stime).
 *
 * Side by side in one run: the built agent (packages/agent/bin/p2pvps-agent, the bundle
 * npm run build:agent writes, what the installed unit runs) and the TypeScript through
 * the tsx loader (how every agent ran before the bundle). Run inside the tests' network
 * namespace, on the production path (renter bridge, user namespaces):
 *
 *   nsenter --net=/var/run/netns/p2pvps-test env P2PVPS_DOCKER_SOCKET=/run/p2pvps-test-docker.sock \
 *     P2PVPS_CONTAINER_NETWORK=bridge node --import tsx bench/agent-footprint.ts [--mib 1024] [--only built|tsx]
 *
 * --idle-only stops after the idle readings; --agent-node-options STR starts the agent with
 * NODE_OPTIONS=STR (to try a V8 flag, or --heapsnapshot-signal=SIGUSR2 and a look inside).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { cpuSeconds, residentMemory, startAgentProcess, type AgentCommand, type AgentProcess } from '../e2e/agent-process.ts';
import { createServer, createSshKey, createUser, openSsh, removeDeviceContainers, sshArgv, waitFor } from '../e2e/harness.ts';

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const mib = Number(option('--mib') ?? 1024);
const only = option('--only') as AgentCommand | undefined;
const commands: AgentCommand[] = only ? [only] : ['built', 'tsx'];
/** How long an enrolled, online agent is left alone before its idle memory is read. */
const settleMs = Number(option('--settle-ms') ?? 20_000);
const idleOnly = args.includes('--idle-only');
const agentNodeOptions = option('--agent-node-options');

interface Figures {
  command: AgentCommand;
  idleRssMiB: number;
  /** What idle VmRSS is made of: the process's own memory, and mapped files' pages (the node binary's). */
  idleAnonMiB: number;
  idleFileMiB: number;
  startRssMiB: number;
  transferRssMiB: number;
  peakMiB: number;
  downCpuPerGB: number;
  upCpuPerGB: number;
  downMBps: number;
  upMBps: number;
  rentToSshMs: number;
}

const MiB = (kib: number) => kib / 1024;

/** Samples the process's VmRSS every 20 ms until stopped; returns the highest. */
function sampleRss(pid: number): { stop(): number } {
  let max = residentMemory(pid).rssKiB;
  // A process that died is caught where the bench next talks to it; here it only stops counting.
  const timer = setInterval(() => {
    try {
      max = Math.max(max, residentMemory(pid).rssKiB);
    } catch {
      clearInterval(timer);
    }
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, residentMemory(pid).rssKiB);
    },
  };
}

/** Runs stock OpenSSH with `input` (a byte count of zeros piped in, or none); resolves with its exit code. */
function sshTransfer(ssh: { port: number; user: string; identity: string }, command: string, uploadBytes: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('ssh', sshArgv(ssh, command), { stdio: [uploadBytes ? 'pipe' : 'ignore', 'ignore', 'inherit'] });
    if (uploadBytes) {
      const chunk = Buffer.alloc(1 << 20);
      let left = uploadBytes;
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!child.stdin!.write(chunk)) return void child.stdin!.once('drain', pump);
        }
        child.stdin!.end();
      };
      pump();
    }
    child.on('close', resolve);
  });
}

async function measure(command: AgentCommand): Promise<Figures> {
  const server = await createServer();
  const owner = await createUser(server, 'owner');
  const renter = await createUser(server, 'renter');
  const key = createSshKey();
  const grant = await owner.api.call('addDevice', { body: { name: `footprint-${command}` } });
  const deviceId = grant.device.id;
  let agent: AgentProcess | undefined;
  try {
    agent = startAgentProcess(server, grant.enrolmentToken, {
      command,
      ...(agentNodeOptions ? { env: { NODE_OPTIONS: agentNodeOptions } } : {}),
    });
    const pid = agent.pid;
    await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${agent!.output()}`);
    });
    await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1000, onMarket: true } });
    // Idle: listed, its prepared container (if any) made, nothing else to do.
    await new Promise((r) => setTimeout(r, settleMs));
    const idle: ReturnType<typeof residentMemory>[] = [];
    for (let i = 0; i < 10; i++) {
      idle.push(residentMemory(pid));
      await new Promise((r) => setTimeout(r, 500));
    }
    const idleMedian = idle.sort((a, b) => a.rssKiB - b.rssKiB)[5]!;
    const idleFigures = { idleRssMiB: MiB(idleMedian.rssKiB), idleAnonMiB: MiB(idleMedian.anonKiB), idleFileMiB: MiB(idleMedian.fileKiB) };
    if (idleOnly) {
      const none = { startRssMiB: NaN, transferRssMiB: NaN, peakMiB: MiB(residentMemory(pid).peakKiB), rentToSshMs: NaN };
      return { command, ...idleFigures, ...none, downCpuPerGB: NaN, upCpuPerGB: NaN, downMBps: NaN, upMBps: NaN };
    }

    const starting = sampleRss(pid);
    const rental = await renter.api.call('rent', { body: { deviceId, sshPublicKey: key.publicKey } });
    const t0 = performance.now();
    const ssh = { port: rental.connection.port, user: rental.connection.username, identity: key.privatePath };
    await waitFor('ssh', async () => (await openSsh(ssh, 'true')).code === 0, 120_000, 20);
    const rentToSshMs = performance.now() - t0;
    await waitFor('active', async () => (await renter.api.call('getRental', { params: { rentalId: rental.id } })).state === 'active');
    const startRssKiB = starting.stop();

    const transferring = sampleRss(pid);
    const bytes = mib * 2 ** 20;
    let cpu = cpuSeconds(pid);
    let t = performance.now();
    const down = await sshTransfer(ssh, `head -c ${bytes} /dev/zero`, 0);
    const downSeconds = (performance.now() - t) / 1000;
    const downCpu = cpuSeconds(pid) - cpu;
    cpu = cpuSeconds(pid);
    t = performance.now();
    const up = await sshTransfer(ssh, 'cat > /dev/null', bytes);
    const upSeconds = (performance.now() - t) / 1000;
    const upCpu = cpuSeconds(pid) - cpu;
    const transferRssKiB = transferring.stop();
    if (down !== 0 || up !== 0) throw new Error(`a transfer failed (ssh exited ${down} down, ${up} up)`);
    const peakKiB = residentMemory(pid).peakKiB;
    await renter.api.call('stopRental', { params: { rentalId: rental.id } });
    const gb = bytes / 1e9;
    return {
      command,
      ...idleFigures,
      startRssMiB: MiB(startRssKiB),
      transferRssMiB: MiB(transferRssKiB),
      peakMiB: MiB(peakKiB),
      downCpuPerGB: downCpu / gb,
      upCpuPerGB: upCpu / gb,
      downMBps: bytes / 1e6 / downSeconds,
      upMBps: bytes / 1e6 / upSeconds,
      rentToSshMs,
    };
  } catch (err) {
    throw new Error(`${(err as Error).message}\nthe agent's output:\n${agent?.output()}`);
  } finally {
    await agent?.stop();
    await removeDeviceContainers(deviceId);
    agent?.clean();
    await server.stop();
  }
}

const results: Figures[] = [];
for (const command of commands) {
  console.error(`[agent-footprint] measuring the ${command} agent`);
  results.push(await measure(command));
}
const names: Record<AgentCommand, string> = { built: 'built (bin/p2pvps-agent)', tsx: 'TypeScript through tsx' };
const f1 = (n: number) => n.toFixed(1);
console.log(`\nAgent footprint, ${mib} MiB each way through the tunnel (OpenSSH → gateway → agent → container sshd):\n`);
console.log(
  '| Agent | idle RSS | idle: own, files | peak RSS, rental start | peak RSS, transfer | VmHWM | CPU s/GB down | CPU s/GB up | MB/s down | MB/s up |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results)
  console.log(
    `| ${names[r.command]} | ${f1(r.idleRssMiB)} MiB | ${f1(r.idleAnonMiB)} + ${f1(r.idleFileMiB)} MiB | ${f1(r.startRssMiB)} MiB | ${f1(r.transferRssMiB)} MiB | ${f1(r.peakMiB)} MiB | ` +
      `${r.downCpuPerGB.toFixed(2)} | ${r.upCpuPerGB.toFixed(2)} | ${r.downMBps.toFixed(0)} | ${r.upMBps.toFixed(0)} |`,
  );
console.log(`\n(rent → first ssh: ${results.map((r) => `${r.command} ${r.rentToSshMs.toFixed(0)} ms`).join(', ')})`);
