/**
 * Measures what a renter waits for: from `rent` returning to the first successful
 * command over stock OpenSSH, through the real server, gateway, agent and Docker.
 *
 * Side by side in one run: two devices on the same server, one running this tree's agent
 * (a prepared container takes each renter), the other the same agent with
 * `prepareContainer: false` (a container started from nothing at each rent, as before
 * prepared containers), or with `--baseline GIT-REF` the agent of an earlier commit, taken
 * from git into a temp dir (it must speak this server's agent protocol: agents before
 * protocol 2, which took the renter's password in clear, are refused). The
 * devices take turns, N rentals each (default 20), the order swapped every round; before
 * each rent the device is listed and then left idle for a second, as a device on the market
 * is. Prints each time, then the median (p50), worst and best of each.
 *
 *   node --import tsx bench/rent-to-ssh.ts [N] [--baseline GIT-REF]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Agent } from '@p2pvps/agent/agent';
import {
  createAgent,
  createServer,
  createSshKey,
  createUser,
  openSsh,
  removeDeviceContainers,
  waitFor,
  type TestAgent,
} from '../e2e/harness.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--baseline');
const baselineRef = at >= 0 ? args.splice(at, 2)[1]! : null;
const runs = Number(args[0] ?? 20);
const root = fileURLToPath(new URL('../', import.meta.url));

/** The earlier agent's source in a temp dir, resolving its imports through this tree's node_modules. */
async function baselineAgentClass(baselineRef: string): Promise<{ Agent: typeof Agent; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-baseline-'));
  const tar = execFileSync('git', ['-C', root, 'archive', baselineRef, 'packages/agent/src']);
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const module = (await import(join(dir, 'packages/agent/src/agent.ts'))) as { Agent: typeof Agent };
  return { Agent: module.Agent, dir };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const baseline = baselineRef ? await baselineAgentClass(baselineRef) : null;
const server = await createServer();
const owner = await createUser(server, 'owner');
const key = createSshKey();
const renter = await createUser(server, 'renter');
const devices: { name: string; deviceId: string; agent: TestAgent; times: number[] }[] = [];
try {
  const sides: { name: string; agentClass?: typeof Agent; deviceConfig?: Record<string, unknown> }[] = [
    baselineRef
      ? { name: `earlier agent (${baselineRef.slice(0, 10)})`, agentClass: baseline!.Agent }
      : { name: 'started at rent (prepareContainer off)', deviceConfig: { prepareContainer: false } },
    { name: 'prepared container' },
  ];
  for (const { name, agentClass, deviceConfig } of sides) {
    const grant = await owner.api.call('addDevice', { body: { name: name.replace(/\W+/g, '-').slice(0, 30) } });
    const deviceId = grant.device.id;
    const agent = await createAgent(server, grant.enrolmentToken, { agentClass, deviceConfig });
    devices.push({ name, deviceId, agent, times: [] });
    await waitFor('online', async () => (await owner.api.call('getDevice', { params: { deviceId } })).online);
    await owner.api.call('updateDevice', { params: { deviceId }, body: { pricePerHourMicros: 1000, onMarket: true } });
  }
  const listed = async (deviceId: string) => (await server.api.call('market', { query: {} })).listings.some((l) => l.deviceId === deviceId);
  for (let i = 0; i < runs; i++) {
    for (const d of i % 2 ? [...devices].reverse() : devices) {
      await waitFor('listed', () => listed(d.deviceId), 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      const rental = await renter.api.call('rent', { body: { deviceId: d.deviceId, sshPublicKey: key.publicKey } });
      const t0 = performance.now();
      let attempts = 0;
      await waitFor(
        'ssh',
        async () => {
          ++attempts;
          const r = await openSsh({ port: rental.connection.port, user: rental.connection.username, identity: key.privatePath }, 'true');
          // The first failures say why a run needed more than one try.
          if (r.code !== 0 && attempts <= 3)
            console.log(`  attempt ${attempts} failed at ${(performance.now() - t0).toFixed(0)} ms: ${r.stderr.trim()}`);
          return r.code === 0;
        },
        60_000,
        20,
      );
      const ms = performance.now() - t0;
      d.times.push(ms);
      console.log(`run ${i + 1}, ${d.name}: ${ms.toFixed(0)} ms (${attempts} ssh attempts)`);
      await renter.api.call('stopRental', { params: { rentalId: rental.id } });
    }
  }
  console.log(`\nrent → first successful ssh command, ${runs} runs each, same run:`);
  for (const d of devices) {
    const sorted = [...d.times].sort((a, b) => a - b);
    console.log(
      `  ${d.name}: p50 ${median(d.times).toFixed(0)} ms, worst ${sorted.at(-1)!.toFixed(0)} ms, best ${sorted[0]!.toFixed(0)} ms`,
    );
  }
} finally {
  for (const d of devices) {
    await d.agent.stop();
    await removeDeviceContainers(d.deviceId);
  }
  await server.stop();
  if (baseline) rmSync(baseline.dir, { recursive: true, force: true });
}
