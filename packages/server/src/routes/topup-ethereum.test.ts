/**
 * Ethereum top-ups through the real server against a real local EVM (ganache, evm-node.ts):
 * a real transfer to the renter's deposit address raises the balance the API shows once it
 * has the configured confirmations; a restart keeps the address and credits nothing twice.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { HDKey } from '@scure/bip32';
import type { ApiClient } from '@p2pvps/protocol/client';
import { startEvmNode, type EvmNode } from '../payments/ethereum/evm-node.ts';
import { createRenter, startRailsServer, waitFor, type RailsServer } from './topup-test-server.ts';
import { ChainMismatchError } from '../payments/ethereum/watcher.ts';

const ETH = 10n ** 18n;
const TUSD = 10n ** 6n;
// The account xpub (m/44'/60'/0') of the "abandon … about" test mnemonic, as a wallet exports it.
const xpub = HDKey.fromMasterSeed(
  pbkdf2Sync(
    'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
    'mnemonic',
    2048,
    64,
    'sha512',
  ),
).derive("m/44'/60'/0'").publicExtendedKey;

let node: EvmNode;
let token: string;
let server: RailsServer;
let funder: string;
let tokenHolder: string;

before(async () => {
  node = await startEvmNode();
  [tokenHolder, funder] = node.accounts as [string, string];
  token = await node.deployToken(tokenHolder, 1_000_000n * TUSD);
  server = await startRailsServer({
    P2PVPS_RAILS: 'ethereum',
    P2PVPS_ETHEREUM_RPC_URL: node.url,
    P2PVPS_ETHEREUM_CHAIN_ID: '1337',
    P2PVPS_ETHEREUM_XPUB: xpub,
    P2PVPS_ETHEREUM_CONFIRMATIONS: '3',
    P2PVPS_ETHEREUM_ETH_RATE: '3000.00',
    P2PVPS_ETHEREUM_TOKEN_ADDRESS: token,
    P2PVPS_ETHEREUM_TOKEN_SYMBOL: 'TUSD',
    P2PVPS_ETHEREUM_TOKEN_DECIMALS: '6',
    P2PVPS_ETHEREUM_TOKEN_RATE: '1.00',
    P2PVPS_ETHEREUM_POLL_INTERVAL_MS: '100',
  });
});

after(async () => {
  await server?.close();
  await node?.close();
});

const balanceOf = async (api: ApiClient) => (await api.call('getBalance')).balanceMicros;
const cursor = async () => {
  const row = await server.running.ctx.db.selectFrom('rail_cursors').select('position').where('rail', '=', 'ethereum').executeTakeFirst();
  return row ? BigInt(row.position) : -1n;
};
/** Until the rail has scanned every block that has 3 confirmations now. */
const scannedToHead = async () => {
  const head = await node.blockNumber();
  await waitFor('the rail to scan to the confirmed head', async () => (await cursor()) >= head - 2n);
};

test('a real ETH and token deposit raise the balance after 3 confirmations; a rescan and a restart credit nothing twice', async () => {
  const renter = await createRenter(server);
  const other = await createRenter(server);
  const deposit = await renter.api.call('ethereumDepositAddress');
  assert.match(deposit.address, /^0x[0-9a-fA-F]{40}$/);
  assert.notEqual(deposit.address, deposit.address.toLowerCase(), 'shown EIP-55 checksummed');
  assert.deepEqual(
    { ...deposit, address: undefined, coins: deposit.coins.map((c) => ({ ...c, rateSetAt: undefined })) },
    {
      rail: 'ethereum',
      address: undefined,
      chain: '1337',
      confirmations: 3,
      coins: [
        { symbol: 'ETH', rate: '3000.00', decimals: 18, rateSetAt: undefined },
        { symbol: 'TUSD', rate: '1.00', decimals: 6, contract: deposit.coins[1]!.contract, rateSetAt: undefined },
      ],
    },
  );
  assert.ok(
    deposit.coins.every((c) => c.rateSetAt && !c.unavailable),
    'each rate says when it was set',
  );
  assert.equal(deposit.coins[1]!.contract!.toLowerCase(), token);
  assert.equal((await renter.api.call('ethereumDepositAddress')).address, deposit.address, 'the same address every time');
  assert.notEqual((await other.api.call('ethereumDepositAddress')).address, deposit.address);
  assert.deepEqual((await server.api.call('topUpRails')).rails[1], {
    name: 'ethereum',
    chainId: 1337,
    confirmations: 3,
    coins: deposit.coins,
  });

  await node.sendEth(funder, deposit.address, ETH / 2n); // 1 confirmation
  await node.mine(); // 2
  await scannedToHead();
  assert.equal(await balanceOf(renter.api), 0, 'not credited before 3 confirmations');
  await node.mine(); // 3
  await waitFor('the ETH deposit', async () => (await balanceOf(renter.api)) === 1_500_000_000);

  await node.transferToken(token, tokenHolder, deposit.address, 12_345_678n);
  await node.mine(2);
  await waitFor('the token deposit', async () => (await balanceOf(renter.api)) === 1_512_345_678);

  // A rescan from the start of the chain (as after a crash before the cursor was saved) finds both again.
  await server.running.ctx.db.updateTable('rail_cursors').set({ position: 0 }).where('rail', '=', 'ethereum').execute();
  await node.mine();
  await scannedToHead();
  assert.equal(await balanceOf(renter.api), 1_512_345_678);

  await server.restart();
  assert.equal((await renter.api.call('ethereumDepositAddress')).address, deposit.address, 'the address survives a restart');
  assert.ok((await cursor()) > 0n, 'the cursor survives a restart');
  await node.sendEth(funder, deposit.address, ETH / 10n);
  await node.mine(2);
  await waitFor('the deposit after the restart', async () => (await balanceOf(renter.api)) === 1_812_345_678);
  await node.mine(3);
  await scannedToHead();
  assert.equal(await balanceOf(renter.api), 1_812_345_678);
  assert.equal(await balanceOf(other.api), 0);
  const deposits = (await renter.api.call('getStatement')).lines.filter((l) => l.kind === 'deposit');
  assert.deepEqual(
    deposits.map((l) => [l.amountMicros, l.memo.replace(/tx 0x[0-9a-f]{64}$/, 'tx …')]),
    [
      [1_500_000_000, '0.5 ETH, tx …'],
      [12_345_678, '12.345678 TUSD, tx …'],
      [300_000_000, '0.1 ETH, tx …'],
    ],
  );
});

test('a node on another chain than configured stops the server at start, saying so', async () => {
  await assert.rejects(
    startRailsServer({
      P2PVPS_RAILS: 'ethereum',
      P2PVPS_ETHEREUM_RPC_URL: node.url,
      P2PVPS_ETHEREUM_CHAIN_ID: '1',
      P2PVPS_ETHEREUM_XPUB: xpub,
      P2PVPS_ETHEREUM_ETH_RATE: '3000.00',
    }),
    (err: unknown) => {
      assert.ok(err instanceof ChainMismatchError);
      assert.match(err.message, /is on chain 1337, but the rail is configured for chain 1/);
      return true;
    },
  );
});
