import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { DepositEvent, DepositSink } from '../rail.ts';
import { ManualClock } from '../../domain/clock.ts';
import { DepositAddresses } from './address.ts';
import { parseBtcPrice, type BtcPrice } from './btc-price.ts';
import { RateUnavailable } from '../exchange-rates.ts';
import { EsploraClient } from './esplora-client.ts';
import { DepositScanner, type BitcoinRailLog, type DepositAddressOwner } from './deposit-scanner.ts';
import { EsploraStandIn, type EsploraStandInOptions } from './esplora-stand-in.ts';
import { BitcoinRail, type BitcoinRailOptions } from './watcher.ts';

// Deposit addresses come from the BIP84 vector account, as the server would derive them.
const account = new DepositAddresses(
  'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs',
  'mainnet',
);
const alice = { userId: 'user-alice', address: account.receiveAddress(0) };
const bob = { userId: 'user-bob', address: account.receiveAddress(1) };
/** A valid address that no renter owns. */
const stranger = account.receiveAddress(99);

/** Stands in for the ledger: records what it applies and, like the ledger, returns false for an event ID it already has. */
function createLedgerSink() {
  const applied = new Map<string, DepositEvent>();
  const offered: DepositEvent[] = [];
  const sink: DepositSink = async (event) => {
    offered.push(event);
    if (applied.has(event.eventId)) return false;
    applied.set(event.eventId, event);
    return true;
  };
  return {
    sink,
    applied,
    offered,
    balance: (userId: string) => [...applied.values()].filter((e) => e.userId === userId).reduce((sum, e) => sum + e.amountMicros, 0n),
  };
}

function createLog() {
  const entries: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const log: BitcoinRailLog = {
    info: (obj, msg) => entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  return { log, entries, warnings: () => entries.filter((e) => e.level === 'warn') };
}

async function startStandIn(t: TestContext, options: EsploraStandInOptions = {}): Promise<EsploraStandIn> {
  const standIn = await EsploraStandIn.start(options);
  t.after(() => standIn.close());
  return standIn;
}

function createScanner(
  standIn: EsploraStandIn,
  options: {
    minConfirmations?: number;
    btcPrice?: string;
    price?: () => Promise<BtcPrice>;
    owners?: DepositAddressOwner[];
    requestTimeoutMs?: number;
    log?: BitcoinRailLog;
  } = {},
) {
  return new DepositScanner({
    client: new EsploraClient({ baseUrl: standIn.url, requestTimeoutMs: options.requestTimeoutMs ?? 2_000 }),
    price: options.price ?? (() => parseBtcPrice(options.btcPrice ?? '65000.00')),
    minConfirmations: options.minConfirmations ?? 3,
    depositAddresses: () => options.owners ?? [alice, bob],
    concurrency: 2,
    log: options.log ?? createLog().log,
    clock: new ManualClock(),
  });
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a deposit is credited only once it has the configured number of confirmations', async (t) => {
  const standIn = await startStandIn(t);
  const scanner = createScanner(standIn, { minConfirmations: 3 });
  const ledger = createLedgerSink();
  const txid = standIn.pay(alice.address, 150_000);

  await scanner.scan(ledger.sink);
  assert.equal(ledger.offered.length, 0, 'unconfirmed: not credited');
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.equal(ledger.offered.length, 0, '1 confirmation: not credited');
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.equal(ledger.offered.length, 0, '2 confirmations: not credited');
  standIn.mine(1);
  const outcome = await scanner.scan(ledger.sink);
  assert.deepEqual(outcome, { credited: 1, alreadyApplied: 0, failures: 0, transientFailure: false });
  assert.deepEqual(ledger.offered, [
    {
      rail: 'bitcoin',
      eventId: `${txid}:0`,
      userId: 'user-alice',
      amountMicros: 97_500_000n, // 0.0015 BTC at 65,000.00 = 97.50
      reference: `0.00150000 BTC at 65000.00 per BTC, output 0 of transaction ${txid}`,
      occurredAt: '2026-01-01T00:10:00.000Z', // the time of the block it was mined in
    },
  ]);
});

test('without a good rate a scan credits nothing, says why and backs off; the deposit is credited at the rate fed later', async (t) => {
  const standIn = await startStandIn(t);
  let fed: string | undefined;
  const log = createLog();
  const price = async () => {
    if (fed === undefined) throw new RateUnavailable('The BTC rate (65000.00) was set 61 min ago, longer than the 60 min it is good for.');
    return parseBtcPrice(fed);
  };
  const scanner = createScanner(standIn, { minConfirmations: 1, price, log: log.log });
  const ledger = createLedgerSink();
  standIn.pay(alice.address, 100_000);
  standIn.mine(1);

  assert.deepEqual(await scanner.scan(ledger.sink), { credited: 0, alreadyApplied: 0, failures: 1, transientFailure: true });
  assert.equal(ledger.offered.length, 0);
  assert.match(String(log.warnings()[0]?.obj.err), /was set 61 min ago/);

  fed = '60000.00';
  assert.equal((await scanner.scan(ledger.sink)).credited, 1);
  assert.equal(ledger.offered[0]!.amountMicros, 60_000_000n, '0.001 BTC at the fed 60000.00');
});

test('amounts convert exactly, rounding down; outputs to unknown addresses in the same transaction are ignored', async (t) => {
  const standIn = await startStandIn(t);
  const scanner = createScanner(standIn, { minConfirmations: 1, btcPrice: '12345.678901' });
  const ledger = createLedgerSink();
  const txid = standIn.addTransaction([
    { address: stranger, sats: 500_000_000 }, // change, or someone else's payment
    { address: alice.address, sats: 1 },
    { address: bob.address, sats: 123_456_789 },
  ]);
  standIn.pay(stranger, 42_000); // a transaction that touches no deposit address at all
  standIn.mine(1);

  await scanner.scan(ledger.sink);
  assert.deepEqual(
    ledger.offered.map((e) => [e.eventId, e.userId, e.amountMicros]),
    [
      // 1 sat × 12345.678901 / 1e8 = 0.00012345678901 units = 123.45678901 micros
      [`${txid}:1`, 'user-alice', 123n],
      // 1.23456789 BTC × 12345.678901 = 15241.57875142508889 units
      [`${txid}:2`, 'user-bob', 15_241_578_751n],
    ],
  );
  assert.ok(!standIn.requests.some((p) => p.includes(stranger)), 'addresses nobody owns are not queried');
});

test('a deposit too small to be worth a micro-unit is not credited', async (t) => {
  const standIn = await startStandIn(t);
  const log = createLog();
  const scanner = createScanner(standIn, { minConfirmations: 1, btcPrice: '0.01', log: log.log });
  const ledger = createLedgerSink();
  standIn.pay(alice.address, 99); // 99 sat at 0.01 per BTC = 0.0099 micros
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.equal(ledger.offered.length, 0);
  assert.ok(log.entries.some((e) => e.msg?.includes('too small')));
});

test('a deposit seen again is credited once: not re-offered in one run, and a duplicate after a restart is refused by the ledger', async (t) => {
  const standIn = await startStandIn(t);
  const ledger = createLedgerSink();
  const txid = standIn.pay(alice.address, 1_000_000);
  standIn.mine(3);

  const scanner = createScanner(standIn);
  await scanner.scan(ledger.sink);
  await scanner.scan(ledger.sink);
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.equal(ledger.offered.length, 1, 'the same run does not offer it twice');

  // A restarted server has no memory of what it offered; the ledger's dedupe keeps the balance right.
  const restarted = createScanner(standIn);
  const outcome = await restarted.scan(ledger.sink);
  assert.deepEqual(outcome, { credited: 0, alreadyApplied: 1, failures: 0, transientFailure: false });
  assert.deepEqual(
    ledger.offered.map((e) => e.eventId),
    [`${txid}:0`, `${txid}:0`],
  );
  assert.equal(ledger.balance('user-alice'), 650_000_000n);
});

test('a transaction that appears in two pages is offered once', async (t) => {
  const standIn = await startStandIn(t, { pageSize: 2, overlappingPages: true });
  const ledger = createLedgerSink();
  const txids: string[] = [];
  for (let i = 0; i < 5; i++) {
    txids.push(standIn.pay(alice.address, 10_000 + i));
    standIn.mine(1);
  }
  standIn.mine(2);
  const outcome = await createScanner(standIn).scan(ledger.sink);
  assert.equal(outcome.credited, 5);
  assert.deepEqual(
    ledger.offered.map((e) => e.eventId),
    txids.map((txid) => `${txid}:0`),
    'each once, oldest first',
  );
  assert.ok(standIn.requests.filter((p) => p.includes('/txs/chain/')).length >= 2, 'it did read several pages');
});

test('history longer than a page is read through, then only the newest page while nothing new is deep enough', async (t) => {
  const standIn = await startStandIn(t); // Esplora's real page size, 25
  const ledger = createLedgerSink();
  for (let i = 0; i < 30; i++) standIn.pay(alice.address, 1_000 + i);
  standIn.mine(3);
  const scanner = createScanner(standIn, { owners: [alice] });
  assert.equal((await scanner.scan(ledger.sink)).credited, 30);
  assert.equal(ledger.balance('user-alice'), satsTotal(30, 1_000) * 650n);

  const before = standIn.requests.length;
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.deepEqual(standIn.requests.slice(before), ['/blocks/tip/height', `/address/${alice.address}/txs`]);
  assert.equal(ledger.offered.length, 30);
});

function satsTotal(count: number, first: number): bigint {
  let total = 0n;
  for (let i = 0; i < count; i++) total += BigInt(first + i);
  return total;
}

test('an address claimed by two users is not credited to either', async (t) => {
  const standIn = await startStandIn(t);
  const log = createLog();
  const ledger = createLedgerSink();
  const scanner = createScanner(standIn, {
    minConfirmations: 1,
    owners: [alice, bob, { userId: 'user-mallory', address: alice.address }],
    log: log.log,
  });
  standIn.pay(alice.address, 5_000);
  standIn.pay(bob.address, 6_000);
  standIn.mine(1);
  await scanner.scan(ledger.sink);
  assert.deepEqual(
    ledger.offered.map((e) => e.userId),
    ['user-bob'],
  );
  assert.ok(log.warnings().some((e) => e.msg?.includes('more than one user')));
});

test('API failures are logged and retried on the next scan without losing the deposit', async (t) => {
  const standIn = await startStandIn(t);
  const log = createLog();
  const ledger = createLedgerSink();
  const scanner = createScanner(standIn, { minConfirmations: 1, requestTimeoutMs: 200, log: log.log });
  const txid = standIn.pay(alice.address, 20_000);
  standIn.mine(1);

  for (const how of [{ status: 503 }, { status: 429 }, 'timeout', 'reset', 'garbage'] as const) {
    standIn.failNextRequests(1, how);
    const outcome = await scanner.scan(ledger.sink);
    assert.equal(outcome.transientFailure, true, `${JSON.stringify(how)} counts as a temporary failure`);
    assert.equal(ledger.offered.length, 0);
  }
  await scanner.scan(ledger.sink);
  assert.deepEqual([...ledger.applied.keys()], [`${txid}:0`], 'served again: credited');

  // A failure in the middle of a scan: one address fails, the other is still credited.
  const toAlice = standIn.pay(alice.address, 30_000);
  const toBob = standIn.pay(bob.address, 40_000);
  standIn.mine(1);
  standIn.failNextRequests(1, { status: 500 }, alice.address);
  const partial = await scanner.scan(ledger.sink);
  assert.deepEqual(partial, { credited: 1, alreadyApplied: 0, failures: 1, transientFailure: true });
  assert.ok(ledger.applied.has(`${toBob}:0`));
  await scanner.scan(ledger.sink);
  assert.ok(ledger.applied.has(`${toAlice}:0`));
  assert.equal(ledger.offered.length, 3);

  const failures = log.warnings().map((e) => e.obj.failure);
  assert.deepEqual(failures.slice(0, 5), ['http', 'http', 'timeout', 'network', 'bad_reply']);
  assert.ok(
    log.warnings().every((e) => !JSON.stringify(e).includes(standIn.url)),
    'logs name the request path, not the base URL',
  );
});

test('an address the API refuses is reported; the others are still credited, without backing off', async (t) => {
  const standIn = await startStandIn(t);
  const log = createLog();
  const ledger = createLedgerSink();
  const scanner = createScanner(standIn, {
    minConfirmations: 1,
    owners: [{ userId: 'user-typo', address: 'bc1qnotanaddress' }, bob],
    log: log.log,
  });
  standIn.pay(bob.address, 7_000);
  standIn.mine(1);
  const outcome = await scanner.scan(ledger.sink);
  assert.deepEqual(outcome, { credited: 1, alreadyApplied: 0, failures: 1, transientFailure: false });
  assert.deepEqual(log.warnings()[0]?.obj, {
    address: 'bc1qnotanaddress',
    request: '/address/bc1qnotanaddress/txs',
    failure: 'http',
    status: 400,
    err: 'HTTP 400: "Invalid Bitcoin address"',
  });
});

test('a sink that fails is retried on the next scan', async (t) => {
  const standIn = await startStandIn(t);
  const ledger = createLedgerSink();
  let failNext = true;
  const flakySink: DepositSink = async (event) => {
    if (failNext) {
      failNext = false;
      throw new Error('database is locked');
    }
    return ledger.sink(event);
  };
  const scanner = createScanner(standIn, { minConfirmations: 1 });
  standIn.pay(alice.address, 8_000);
  standIn.mine(1);
  assert.deepEqual(await scanner.scan(flakySink), { credited: 0, alreadyApplied: 0, failures: 1, transientFailure: true });
  assert.equal((await scanner.scan(flakySink)).credited, 1);
  assert.equal(ledger.balance('user-alice'), 5_200_000n);
});

function createRail(standIn: EsploraStandIn, overrides: Partial<BitcoinRailOptions> = {}): BitcoinRail {
  return new BitcoinRail({
    esploraUrl: standIn.url,
    minConfirmations: 2,
    btcPrice: '65000.00',
    depositAddresses: async () => [alice, bob],
    pollIntervalMs: 20,
    maxRetryDelayMs: 80,
    requestTimeoutMs: 200,
    ...overrides,
  });
}

test('the rail polls on its own, credits after the confirmations, and recovers from an outage', async (t) => {
  const standIn = await startStandIn(t);
  const log = createLog();
  const ledger = createLedgerSink();
  const rail = createRail(standIn, { log: log.log });
  t.after(() => rail.close());
  assert.equal(rail.name, 'bitcoin');
  await rail.start(ledger.sink);

  const first = standIn.pay(alice.address, 100_000);
  standIn.mine(1);
  await waitFor('a few polls', () => standIn.requests.length > 10);
  assert.equal(ledger.offered.length, 0, 'one confirmation of two: not yet');
  standIn.mine(1);
  await waitFor('the first deposit', () => ledger.applied.has(`${first}:0`));
  assert.equal(ledger.balance('user-alice'), 65_000_000n);

  standIn.failNextRequests(2, { status: 502 });
  standIn.failNextRequests(1, 'timeout');
  standIn.failNextRequests(1, 'reset');
  standIn.failNextRequests(2, 'garbage');
  const second = standIn.pay(bob.address, 300_000);
  standIn.mine(2);
  await waitFor('the second deposit, after the outage', () => ledger.applied.has(`${second}:0`));
  assert.equal(ledger.balance('user-bob'), 195_000_000n);
  assert.ok(log.warnings().length >= 3, 'the outage was logged');
  assert.ok(log.entries.some((e) => e.msg === 'bitcoin polling recovered'));
  assert.equal(ledger.offered.length, 2, 'nothing was offered twice');
});

test('close stops polling and is idempotent; a rail starts once', async (t) => {
  const standIn = await startStandIn(t);
  const ledger = createLedgerSink();
  const rail = createRail(standIn, { requestTimeoutMs: 5_000 });
  await assert.rejects(rail.pollNow(), /not started/);
  await rail.start(ledger.sink);
  await assert.rejects(rail.start(ledger.sink), /already started/);
  // A whole poll (tip, then both addresses): failing requests from the middle of one would hang it before a 4th request.
  await waitFor('a poll', () => standIn.requests.length >= 3);

  // Close while a request hangs: the request is aborted rather than waited out.
  standIn.failNextRequests(100, 'timeout');
  await waitFor('a hanging request', () => standIn.requests.length > 3);
  const started = Date.now();
  await Promise.all([rail.close(), rail.close()]);
  await rail.close();
  assert.ok(Date.now() - started < 2_000, 'close did not wait for the request timeout');
  const seen = standIn.requests.length;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(standIn.requests.length, seen, 'no requests after close');
  await assert.rejects(rail.start(ledger.sink), /closed/);
});

test('unusable options are refused when the rail is built', () => {
  const base: BitcoinRailOptions = {
    esploraUrl: 'https://blockstream.info/api',
    minConfirmations: 3,
    btcPrice: '65000.00',
    depositAddresses: () => [],
  };
  assert.doesNotThrow(() => new BitcoinRail(base));
  assert.throws(() => new BitcoinRail({ ...base, btcPrice: '65,000' }), /BTC price/);
  assert.throws(() => new BitcoinRail({ ...base, btcPrice: '0' }), /greater than zero/);
  assert.throws(() => new BitcoinRail({ ...base, esploraUrl: 'blockstream.info/api' }), /not a URL/);
  assert.throws(() => new BitcoinRail({ ...base, esploraUrl: 'ftp://example.org' }), /http: or https:/);
  assert.throws(() => new BitcoinRail({ ...base, minConfirmations: 0 }), /minConfirmations/);
  assert.throws(() => new BitcoinRail({ ...base, pollIntervalMs: 0 }), /pollIntervalMs/);
});
