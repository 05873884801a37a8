import { createTestDatabase } from '../testing/test-database.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { findLease, type LeaseRow } from '../db/leases-repo.ts';
import { findRental } from '../db/rentals-repo.ts';
import { addDevice, registerDevice } from '../domain/devices/devices.ts';
import { driftedAccounts, ledgerTotal } from '../db/ledger-repo.ts';
import { settleRental } from '../domain/money/metering.ts';
import { chargeForMinutes } from '../domain/money/money.ts';
import { syncDevice } from '../domain/rentals/agent-sync.ts';
import { rent } from '../domain/rentals/rentals.ts';
import { createTestContext } from '../domain/test-context.ts';
import { fastClock, meterTickOpenLine } from '../testing/cluster-node.ts';

const repoRoot = join(import.meta.dirname, '../../../..');
const nodeEntry = join(import.meta.dirname, '../testing/cluster-node.ts');
const ttlMs = 2_000;
/** One real second is a metered minute: every tick bills a minute of every rental. */
const speed = 60;
const minute = 60_000;
const pricePerHour = 6_000_000n;

interface Node {
  id: string;
  proc: ChildProcess;
  gatewayPort: number;
  /** Lines of stdout so far; `waitFor` watches them. */
  lines: string[];
  listeners: Set<() => void>;
}

function waitFor(node: Node, from: number, match: (line: string) => boolean, what: string, ms = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const line = node.lines.slice(from).find(match);
      if (line === undefined) return;
      clearTimeout(timer);
      node.listeners.delete(check);
      resolve(line);
    };
    const timer = setTimeout(() => {
      node.listeners.delete(check);
      reject(new Error(`${node.id}: no ${what} within ${ms} ms; its output:\n${node.lines.slice(-30).join('\n')}`));
    }, ms);
    node.listeners.add(check);
    check();
  });
}

/** The key every node of one cluster shares (docs/production.md): what seals renters' passwords and the federation key. */
const clusterSecretBoxKey = randomBytes(32);

async function startNode(id: string, dir: string, databaseUrl: string, epoch: number): Promise<Node> {
  mkdirSync(join(dir, id), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, id, 'secret-box.key'), clusterSecretBoxKey, { mode: 0o600 });
  const args = [
    ...['--import', 'tsx', nodeEntry],
    ...['--data-dir', join(dir, id), '--database-url', databaseUrl, '--node-id', id],
    ...['--http-port', '0', '--https-port', '0', '--gateway-port', '0'],
    ...['--leader-lease-ttl-ms', String(ttlMs), '--meter-interval-ms', '1000', '--public-url', 'http://127.0.0.1:8080'],
  ];
  const proc = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      P2PVPS_TEST_CLOCK_EPOCH_MS: String(epoch),
      P2PVPS_TEST_CLOCK_SPEED: String(speed),
      P2PVPS_TEST_METER_HOLD_MS: '400',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node: Node = { id, proc, gatewayPort: 0, lines: [], listeners: new Set() };
  let partial = '';
  const take = (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    node.lines.push(...lines);
    for (const listener of [...node.listeners]) listener();
  };
  proc.stdout!.on('data', take);
  proc.stderr!.on('data', take);
  const ready = await waitFor(node, 0, (l) => /device gateway [^ ]+:\d+/.test(l), 'start-up line');
  node.gatewayPort = Number(/device gateway [^ ]+:(\d+)/.exec(ready)![1]);
  return node;
}

/** A device's tunnel, logged in with its own key as its agent would: the node then sees it online. */
function openTunnel(port: number, device: { id: string; privateKey: string; sshPort: number }): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on('error', reject);
    client.once('ready', () => client.forwardIn('127.0.0.1', device.sshPort, (err) => (err ? reject(err) : resolve(client))));
    client.connect({ host: '127.0.0.1', port, username: device.id, privateKey: device.privateKey, readyTimeout: 10_000 });
  });
}

/**
 * SQLite gives a transaction that read before it writes no busy wait when another process
 * holds the write lock, or wrote since it read (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT): waiting
 * could deadlock. The leader's ticks write every second, so the test's own writes try again.
 */
async function retryBusy<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!String((err as { code?: string }).code).startsWith('SQLITE_BUSY') || attempt >= 100) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

test('kill -9 of the leader in the middle of a metering tick: another node takes over, and no minute is billed twice or lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-failover-'));
  const database = await createTestDatabase(`sqlite:${join(dir, 'cluster.sqlite')}`);
  const databaseUrl = database.url;
  const epoch = Date.now();
  const clock = fastClock(epoch, speed);
  // The test's own connection to the shared database, for the market and for the books.
  const market = await createTestContext([20000, 20099], databaseUrl);
  const nodes: Node[] = [];
  const tunnels: Client[] = [];
  t.after(async () => {
    for (const c of tunnels) c.end();
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await market.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  const syncClock = () => market.clock.advance(clock.now().getTime() - market.clock.now().getTime());

  // Devices enrolled with keys the test holds; renters with plenty of credit.
  const owner = await market.createUser('owner');
  const devices: { id: string; privateKey: string; sshPort: number }[] = [];
  for (let i = 0; i < 4; i++) {
    const keys = generateEd25519KeyPair(`device-${i}`);
    const grant = await addDevice(market.ctx, owner.id, `pi-${i}`, '');
    const hardware = { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' };
    await registerDevice(
      market.ctx,
      { enrolmentToken: grant.enrolmentToken, publicKey: keys.public, hardware, agentVersion: 't' },
      { host: 'h', port: 1, hostKey: 'k' },
    );
    await market.ctx.db
      .updateTable('devices')
      .set({ price_per_hour_micros: Number(pricePerHour), on_market: 1 })
      .where('id', '=', grant.device.id)
      .execute();
    const row = await market.ctx.db.selectFrom('devices').select('ssh_port').where('id', '=', grant.device.id).executeTakeFirstOrThrow();
    devices.push({ id: grant.device.id, privateKey: keys.private, sshPort: Number(row.ssh_port) });
  }

  // Three nodes, one after the other (the first makes the operator); the first leads at once.
  for (const id of ['node-1', 'node-2', 'node-3']) nodes.push(await startNode(id, dir, databaseUrl, epoch));
  assert.equal((await findLease(market.ctx.db, 'periodic-work'))?.holderNode, 'node-1', 'the first node leads from its start');
  // Every device has a tunnel on every node, so whichever node leads sees them all online.
  for (const n of nodes) for (const d of devices) tunnels.push(await openTunnel(n.gatewayPort, d));

  const rentals: { id: string; startedAt: number }[] = [];
  for (const [i, d] of devices.entries()) {
    const renter = await retryBusy(() => market.createUser(`renter-${i}`));
    // The test's own context has no gateway: it is told what the nodes see, the tunnel up.
    market.online.add(d.id);
    syncClock();
    const rental = await retryBusy(() => rent(market.ctx, renter.id, { deviceId: d.id }));
    await retryBusy(() => syncDevice(market.ctx, d.id, { container: { rentalId: rental.id, state: 'ready' } }));
    const active = await findRental(market.ctx.db, rental.id);
    assert.equal(active?.state, 'active');
    rentals.push({ id: rental.id, startedAt: new Date(active!.billed_until!).getTime() });
  }

  // The leader is killed while a tick holds its writes uncommitted, then stopped there (a
  // long pause) and let go on, then killed again: each time a survivor takes over.
  const lease = async () => (await findLease(market.ctx.db, 'periodic-work')) as LeaseRow;
  const nextTick = (node: Node) => waitFor(node, node.lines.length, (l) => l === meterTickOpenLine, 'metering tick');
  const takeover = async (from: LeaseRow) => {
    let now = await lease();
    while (now.token === from.token) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await lease();
    }
    return now;
  };
  for (const [round, how] of (['kill', 'pause', 'kill'] as const).entries()) {
    const before = await lease();
    const leader = nodes.find((n) => n.id === before.holderNode)!;
    assert.equal(leader.proc.exitCode, null, `round ${round}: the lease names a live node`);
    // It bills a few minutes first.
    for (let ticks = 0; ticks < 3; ticks++) await nextTick(leader);
    await nextTick(leader);
    const at = Date.now();
    let after: LeaseRow;
    if (how === 'kill') {
      leader.proc.kill('SIGKILL');
      after = await takeover(before);
      t.diagnostic(`round ${round}: ${after.holderNode} took over from ${leader.id} ${Date.now() - at} ms after kill -9`);
      assert.notEqual(after.holderNode, leader.id);
    } else {
      // Paused for twice the TTL inside its tick: on PostgreSQL another node takes over
      // meanwhile; on SQLite the paused transaction holds the file's write lock, so the
      // takeover waits for it. Either way its tick must not commit when it wakes up.
      const mark = leader.lines.length;
      leader.proc.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 2 * ttlMs));
      leader.proc.kill('SIGCONT');
      await waitFor(leader, mark, (l) => l.includes('no longer holds the lease periodic-work'), 'refused tick');
      after = await takeover(before);
      t.diagnostic(`round ${round}: ${after.holderNode} holds the lease after ${leader.id} was paused in a tick; its tick was rolled back`);
    }
    assert.ok(after.token > before.token, 'a new tenure comes with a higher fencing token');
    const survivor = nodes.find((n) => n.id === after.holderNode)!;
    assert.equal(survivor.proc.exitCode, null);
    await waitFor(
      survivor,
      0,
      (l) => l.includes(`this node leads the periodic work (lease periodic-work, token ${after.token})`),
      'lead line',
    );
    // The new leader meters.
    for (let ticks = 0; ticks < 2; ticks++) await nextTick(survivor);
  }

  // Only a leader ever metered: no node ran a tick before it took the lease.
  for (const n of nodes) {
    const led = n.lines.findIndex((l) => l.includes('this node leads the periodic work'));
    const ticked = n.lines.indexOf(meterTickOpenLine);
    if (ticked >= 0) assert.ok(led >= 0 && led < ticked, `${n.id} metered only once it led`);
  }
  assert.ok(nodes.filter((n) => n.lines.includes(meterTickOpenLine)).length >= 2, 'the metering moved between nodes');

  // The last node stops gracefully; then everything is settled once more up to one instant.
  for (const last of nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)) {
    last.proc.kill('SIGTERM');
    await new Promise((resolve) => last.proc.once('exit', resolve));
  }
  syncClock();
  const end = market.clock.now().getTime();
  for (const r of rentals) await settleRental(market.ctx, r.id, true);

  for (const r of rentals) {
    const row = await findRental(market.ctx.db, r.id);
    const elapsed = Math.floor((end - r.startedAt) / minute);
    assert.ok(elapsed > 5, 'the rentals ran through the failovers');
    assert.equal(row?.billed_minutes, elapsed, `rental ${r.id}: every minute billed once, none lost`);
    assert.equal(BigInt(row!.charged_micros), chargeForMinutes(pricePerHour, BigInt(elapsed)), 'collected exactly the minutes');
    const charges = await market.ctx.db
      .selectFrom('ledger_entries')
      .innerJoin('ledger_transactions', 'ledger_transactions.id', 'ledger_entries.transaction_id')
      .innerJoin('ledger_accounts', 'ledger_accounts.id', 'ledger_entries.account_id')
      .select((eb) => eb.fn.sum<string>('ledger_entries.amount').as('total'))
      .where('ledger_transactions.rental_id', '=', r.id)
      .where('ledger_transactions.kind', '=', 'rental_charge')
      .where('ledger_accounts.kind', '=', 'renter_balance')
      .executeTakeFirstOrThrow();
    assert.equal(-BigInt(charges.total ?? 0), BigInt(row!.charged_micros), 'the ledger charged the renter exactly that, once');
  }
  assert.equal(await ledgerTotal(market.ctx.db), 0n, 'the books sum to zero');
  assert.deepEqual(await driftedAccounts(market.ctx.db), []);
});
