/**
 * The Ethereum rail against a real local EVM: ganache in a child process, a Solidity
 * ERC-20 compiled with solc-js, deposit addresses derived from a known xpub.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import type { DepositEvent, ReversalEvent } from '../rail.ts';
import { DepositAddresses } from './address.ts';
import { startEvmNode, type EvmNode } from './evm-node.ts';
import type { EthereumRailConfig } from './rail-config.ts';
import { ChainMismatchError, EthereumRail, type RailLogger } from './watcher.ts';
import { MemoryBlockCursor, MemoryDepositDirectory } from './stores.ts';
import { RateUnavailable } from '../exchange-rates.ts';

const ETH = 10n ** 18n;
const TUSD = 10n ** 6n;

let node: EvmNode;
let token: string;
let otherToken: string;
let funder: string;
let tokenHolder: string;
const addresses = new DepositAddresses(
  HDKey.fromMasterSeed(
    pbkdf2Sync(
      'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
      'mnemonic',
      2048,
      64,
      'sha512',
    ),
  ).derive("m/44'/60'/0'").publicExtendedKey,
);
let nextIndex = 0;
const rails: EthereumRail[] = [];

before(async () => {
  node = await startEvmNode();
  [tokenHolder, funder] = node.accounts as [string, string];
  token = await node.deployToken(tokenHolder, 1_000_000n * TUSD);
  otherToken = await node.deployToken(tokenHolder, 1_000_000n * TUSD);
});

after(async () => {
  await Promise.all(rails.map((r) => r.close()));
  await node?.close();
});

/** A renter with a fresh deposit address. */
function createRenter(directory: MemoryDepositDirectory, userId = `user-${nextIndex}`) {
  const address = addresses.at(nextIndex++);
  directory.assign(address, userId);
  return { userId, address };
}

/** A ledger that applies each (rail, eventId) once, like the real one, and counts deliveries. */
function createLedger() {
  const applied = new Map<string, DepositEvent>();
  const deliveries = new Map<string, number>();
  const reversed = new Map<string, ReversalEvent>();
  return {
    applied,
    deliveries,
    reversed,
    sink: async (event: DepositEvent) => {
      deliveries.set(event.eventId, (deliveries.get(event.eventId) ?? 0) + 1);
      if (applied.has(event.eventId)) return false;
      applied.set(event.eventId, event);
      return true;
    },
    reverse: async (event: ReversalEvent) => {
      if (reversed.has(event.eventId)) return 'already_reversed' as const;
      if (!applied.has(event.reverses)) return 'not_credited' as const;
      reversed.set(event.eventId, event);
      return 'reversed' as const;
    },
  };
}

function createLog() {
  const entries: { level: string; message: string; fields: object }[] = [];
  const at = (level: string) => (fields: object, message: string) => void entries.push({ level, message, fields });
  const log: RailLogger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { log, entries };
}

/** A rail scanning from the next block on, so earlier tests' deposits stay out of view. */
async function createRail(overrides: Partial<EthereumRailConfig> = {}, rateOf?: (symbol: string) => Promise<string>) {
  const directory = new MemoryDepositDirectory();
  const cursor = new MemoryBlockCursor();
  const { log, entries } = createLog();
  const config: EthereumRailConfig = {
    rpcUrl: node.url,
    chainId: 1337n,
    confirmations: 1,
    ethRate: '3000.00',
    token: { address: token, symbol: 'TUSD', decimals: 6, rate: '1.00' },
    startBlock: (await node.blockNumber()) + 1n,
    pollIntervalMs: 60_000, // tests drive scan() unless they say otherwise
    rpcTimeoutMs: 5_000,
    ...overrides,
  };
  const rail = new EthereumRail(config, { cursor, directory, log, ...(rateOf && { rateOf }) });
  rails.push(rail);
  return { rail, directory, cursor, entries };
}

async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an ETH deposit is credited once it has the configured confirmations, at the exact rate', async () => {
  const { rail, directory } = await createRail({ confirmations: 3 });
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink);

  const tx = await node.sendEth(funder, renter.address, ETH / 2n + 1n); // 0.5 ETH and one wei
  await rail.scan(); // 1 confirmation
  await node.mine();
  await rail.scan(); // 2 confirmations
  assert.equal(ledger.applied.size, 0, 'credited before 3 confirmations');

  await node.mine();
  await rail.scan(); // 3 confirmations
  assert.deepEqual(
    [...ledger.applied.values()],
    [
      {
        rail: 'ethereum',
        eventId: `eth:${tx.hash}`,
        userId: renter.userId,
        amountMicros: 1_500_000_000n, // 0.5 ETH × 3000.00; the extra wei rounds down
        reference: `0.500000000000000001 ETH, tx ${tx.hash}`,
        occurredAt: ledger.applied.get(`eth:${tx.hash}`)!.occurredAt,
      },
    ],
  );
  assert.match(ledger.applied.get(`eth:${tx.hash}`)!.occurredAt, /^\d{4}-\d\d-\d\dT/);
});

test('a token deposit is credited; transfers to other addresses and of other tokens are ignored', async () => {
  const { rail, directory } = await createRail();
  const ledger = createLedger();
  const renter = createRenter(directory);
  const bystander = node.accounts[5]!;
  await rail.start(ledger.sink);

  const deposit = await node.transferToken(token, tokenHolder, renter.address, 12_345_678n); // 12.345678 TUSD
  await node.transferToken(token, tokenHolder, bystander, 50n * TUSD);
  await node.transferToken(otherToken, tokenHolder, renter.address, 70n * TUSD);
  await node.sendEth(funder, bystander, ETH);
  await rail.scan();

  assert.deepEqual(
    [...ledger.applied.values()].map((e) => [e.eventId, e.userId, e.amountMicros, e.reference]),
    [[`erc20:${deposit.hash}:0`, renter.userId, 12_345_678n, `12.345678 TUSD, tx ${deposit.hash}`]],
  );
});

test('a deposit seen twice is credited once', async () => {
  const { rail, directory, cursor } = await createRail();
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink);
  const startedAt = await node.blockNumber();

  const eth = await node.sendEth(funder, renter.address, ETH);
  const tusd = await node.transferToken(token, tokenHolder, renter.address, 5n * TUSD);
  await rail.scan();
  await rail.scan(); // a re-poll with nothing new
  await cursor.save(startedAt); // a re-scan of the same blocks, as after a crash before the cursor was saved
  await rail.scan();

  const ids = [`eth:${eth.hash}`, `erc20:${tusd.hash}:0`];
  assert.deepEqual([...ledger.applied.keys()], ids);
  assert.deepEqual(
    ids.map((id) => ledger.deliveries.get(id)),
    [2, 2],
  );
  assert.equal(ledger.applied.get(ids[0]!)!.amountMicros, 3_000_000_000n);
  assert.equal(ledger.applied.get(ids[1]!)!.amountMicros, 5_000_000n);
});

test('refuses to scan a node on another chain', async () => {
  const { rail } = await createRail({ chainId: 1n });
  await assert.rejects(rail.start(createLedger().sink), ChainMismatchError);
});

test('survives a node restart mid-watch and credits later deposits exactly once', async () => {
  const { rail, directory, cursor, entries } = await createRail({ confirmations: 2, pollIntervalMs: 100, maxBackoffMs: 400 });
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink);

  const before = await node.sendEth(funder, renter.address, ETH / 10n);
  await node.mine();
  await waitFor('the deposit before the restart', () => ledger.applied.has(`eth:${before.hash}`));

  await node.stop();
  await waitFor('the rail to fail a poll', () => entries.some((e) => e.level === 'warn'));
  await node.restart();

  const afterRestart = await node.sendEth(funder, renter.address, ETH / 5n);
  const tusd = await node.transferToken(token, tokenHolder, renter.address, 3n * TUSD);
  await node.mine();
  await waitFor('the deposits after the restart', () => ledger.applied.size === 3);
  // Let the loop poll past a few more blocks: nothing is delivered again.
  const head = await node.blockNumber();
  await node.mine(3);
  await waitFor('the rail to scan past the deposits', async () => ((await cursor.load()) ?? 0n) > head);

  assert.deepEqual(
    [...ledger.applied.values()].map((e) => [e.eventId, e.amountMicros]),
    [
      [`eth:${before.hash}`, 300_000_000n],
      [`eth:${afterRestart.hash}`, 600_000_000n],
      [`erc20:${tusd.hash}:0`, 3_000_000n],
    ],
  );
  assert.deepEqual([...ledger.deliveries.values()], [1, 1, 1], 'each deposit delivered once');
  assert.ok(entries.some((e) => e.message === 'Ethereum rail recovered.'));
});

/** Scans until the rail has caught up with the confirmed head; the results of each scan. */
async function scanToHead(rail: EthereumRail) {
  const results = [];
  for (let i = 0; i < 100; i++) {
    const result = await rail.scan();
    results.push(result);
    if (!result.behind) return results;
  }
  throw new Error('The rail did not catch up in 100 scans.');
}

test('a reorg deeper than the confirmations and the batch is noticed: the cursor rewinds, the new chain is credited, what left it is taken back', async () => {
  const { rail, directory, cursor, entries } = await createRail({ confirmations: 2, maxBlocksPerBatch: 2 });
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink, ledger.reverse);
  await node.mine(2);
  await scanToHead(rail); // the block the chains will share is behind the cursor
  const fork = (await node.rpc.call('evm_snapshot')) as string;

  // The first chain: 1 ETH to the renter, buried under five more blocks, scanned in batches of two.
  const gone = await node.sendEth(funder, renter.address, ETH);
  await node.mine(5);
  await scanToHead(rail);
  assert.ok(ledger.applied.has(`eth:${gone.hash}`));
  const scannedTo = (await cursor.load())!;
  assert.ok(scannedTo >= gone.blockNumber + 3n, 'the deposit is several batches behind the cursor');

  // The node switches to a longer chain from before the deposit: 0.25 ETH to the renter instead.
  await node.rpc.call('evm_revert', [fork]);
  await node.mine();
  const replacement = await node.sendEth(funder, renter.address, ETH / 4n);
  await node.mine(7);
  const results = await scanToHead(rail);

  assert.equal(results[0]!.rewoundTo, gone.blockNumber - 1n, 'back to the last block both chains share');
  assert.ok(entries.some((e) => e.level === 'error' && /reorganised below the cursor/.test(e.message)));
  assert.ok(ledger.applied.has(`eth:${replacement.hash}`), 'the deposit on the new chain is credited');
  assert.deepEqual(
    [...ledger.reversed.values()].map((e) => [e.eventId, e.reverses, e.userId, e.amountMicros]),
    [[`reorg:eth:${gone.hash}`, `eth:${gone.hash}`, renter.userId, 3_000_000_000n]],
  );
  assert.ok((await cursor.load())! > scannedTo);
  assert.equal((await cursor.loadTrail()).orphans, undefined);
});

/** A legacy transfer with every field fixed, so sending it again signs the very same transaction (same hash). */
async function sendFixed(from: string, to: string, wei: bigint): Promise<{ hash: string; blockNumber: bigint }> {
  const nonce = (await node.rpc.call('eth_getTransactionCount', [from, 'latest'])) as string;
  const tx = { from, to, value: `0x${wei.toString(16)}`, gas: '0x5208', gasPrice: '0x4a817c800', nonce };
  const hash = (await node.rpc.call('eth_sendTransaction', [tx])) as string;
  await waitFor('the receipt', async () => (await node.rpc.call('eth_getTransactionReceipt', [hash])) !== null);
  const receipt = (await node.rpc.call('eth_getTransactionReceipt', [hash])) as { blockNumber: string };
  return { hash, blockNumber: BigInt(receipt.blockNumber) };
}

test('a deposit that a reorg moves to another block stays credited, once', async () => {
  const { rail, directory } = await createRail({ confirmations: 1, maxBlocksPerBatch: 3 });
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink, ledger.reverse);
  await node.mine();
  await scanToHead(rail);
  const fork = (await node.rpc.call('evm_snapshot')) as string;
  const tx = await sendFixed(funder, renter.address, ETH / 2n);
  await node.mine(2);
  await scanToHead(rail);

  // The new chain has an empty block first, then the very same transaction.
  await node.rpc.call('evm_revert', [fork]);
  await node.mine();
  const again = await sendFixed(funder, renter.address, ETH / 2n);
  assert.equal(again.hash, tx.hash);
  assert.equal(again.blockNumber, tx.blockNumber + 1n);
  await node.mine(4);
  const results = await scanToHead(rail);

  assert.ok(results.some((r) => r.rewoundTo !== undefined));
  assert.deepEqual([...ledger.reversed.keys()], [], 'found again on the new chain: nothing taken back');
  assert.equal(ledger.deliveries.get(`eth:${tx.hash}`), 2);
  assert.equal(ledger.applied.size, 1);
});

test('without a good rate a batch with deposits waits, the cursor stays, and the deposit is credited at the fed rate later', async () => {
  let fed: string | undefined;
  const rateOf = async (symbol: string) => {
    if (fed === undefined) throw new RateUnavailable(`The ${symbol} rate is stale.`);
    return fed;
  };
  const { rail, directory, cursor } = await createRail({}, rateOf);
  const ledger = createLedger();
  const renter = createRenter(directory);
  await rail.start(ledger.sink);
  await node.mine();
  await scanToHead(rail); // blocks without deposits need no rate
  const before = await cursor.load();

  const tx = await node.sendEth(funder, renter.address, ETH);
  await assert.rejects(rail.scan(), { name: 'RateUnavailable', message: 'The ETH rate is stale.' });
  assert.equal(ledger.applied.size, 0);
  assert.equal(await cursor.load(), before, 'the block with the deposit is scanned again later');

  fed = '2000.00';
  await scanToHead(rail);
  assert.equal(ledger.applied.get(`eth:${tx.hash}`)?.amountMicros, 2_000_000_000n, 'at the fed rate, not the config’s 3000.00');
});
