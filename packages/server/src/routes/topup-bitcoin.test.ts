/**
 * Bitcoin top-ups through the real server against the local Esplora STAND-IN
 * (esplora-stand-in.ts: no Bitcoin node can run on the test machines, so this is the
 * Esplora HTTP API's shapes, not Bitcoin).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { operatorClient } from '../services/operator-client.ts';
import { DepositAddresses } from '../payments/bitcoin/address.ts';
import { EsploraStandIn } from '../payments/bitcoin/esplora-stand-in.ts';
import { createRenter, startRailsServer, waitFor, type RailsServer } from './topup-test-server.ts';

// The BIP84 test vector account; the operator's wallet derives the same addresses.
const zpub = 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs';
const wallet = new DepositAddresses(zpub, 'mainnet');

let standIn: EsploraStandIn;
let server: RailsServer;

before(async () => {
  standIn = await EsploraStandIn.start();
  server = await startRailsServer({
    P2PVPS_RAILS: 'bitcoin',
    P2PVPS_BITCOIN_ESPLORA_URL: standIn.url,
    P2PVPS_BITCOIN_XPUB: zpub,
    P2PVPS_BITCOIN_CONFIRMATIONS: '2',
    P2PVPS_BITCOIN_BTC_RATE: '65000.00',
    P2PVPS_BITCOIN_POLL_INTERVAL_MS: '100',
  });
});

after(async () => {
  await server?.close();
  await standIn?.close();
});

const balanceOf = async (api: ApiClient) => (await api.call('getBalance')).balanceMicros;
/** Until the rail has polled the tip at least twice more (so one whole poll saw the current state). */
async function polledTwice(): Promise<void> {
  const seen = standIn.requests.filter((r) => r.startsWith('/blocks/tip/height')).length;
  await waitFor('two more polls', () => standIn.requests.filter((r) => r.startsWith('/blocks/tip/height')).length >= seen + 2);
}

test('a payment to the renter’s address is credited after 2 confirmations, once, across a restart', async () => {
  const renter = await createRenter(server);
  const other = await createRenter(server);
  const deposit = await renter.api.call('bitcoinDepositAddress');
  assert.deepEqual(deposit, {
    rail: 'bitcoin',
    address: wallet.receiveAddress(0),
    chain: 'mainnet',
    confirmations: 2,
    coins: [{ symbol: 'BTC', rate: '65000.00', decimals: 8, rateSetAt: deposit.coins[0]!.rateSetAt }],
    watchedUntil: deposit.watchedUntil,
  });
  assert.ok(deposit.coins[0]!.rateSetAt, 'the quote says when its rate was set');
  assert.equal((await other.api.call('bitcoinDepositAddress')).address, wallet.receiveAddress(1));
  assert.equal((await renter.api.call('bitcoinDepositAddress')).address, deposit.address, 'the same address every time');

  const txid = standIn.pay(deposit.address, 100_000); // 0.001 BTC = 65.00 USD
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 0, 'not credited from the mempool');
  standIn.mine(); // 1 confirmation
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 0, 'not credited before 2 confirmations');
  standIn.mine(); // 2
  await waitFor('the deposit', async () => (await balanceOf(renter.api)) === 65_000_000);

  // After a restart the rail reads the addresses' whole history again: the ledger has it already.
  await server.restart();
  assert.equal((await renter.api.call('bitcoinDepositAddress')).address, deposit.address, 'the address survives a restart');
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 65_000_000);

  standIn.pay(deposit.address, 2_500); // 1.625 USD
  standIn.mine(2);
  await waitFor('the deposit after the restart', async () => (await balanceOf(renter.api)) === 66_625_000);
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 66_625_000);
  assert.equal(await balanceOf(other.api), 0);
  const deposits = (await renter.api.call('getStatement')).lines.filter((l) => l.kind === 'deposit');
  assert.equal(deposits.length, 2);
  assert.ok(deposits[0]!.memo.includes(txid), deposits[0]!.memo);
});

test('only addresses renters asked for lately are polled; asking again picks up a payment made meanwhile', async () => {
  const renter = await createRenter(server);
  // Looking is not asking: a GET allocates nothing (an address is made only when the renter asks with POST).
  const look = await fetch(`${server.url}/api/v1/topup/bitcoin`, { headers: { authorization: `Bearer ${renter.token}` } });
  assert.equal(look.status, 404);
  const rows = () => server.running.ctx.db.selectFrom('deposit_addresses').select('address').where('user_id', '=', renter.id).execute();
  assert.deepEqual(await rows(), []);

  const { address } = await renter.api.call('bitcoinDepositAddress');
  const polled = () => standIn.requests.filter((r) => r.startsWith(`/address/${address}/`)).length;
  await polledTwice();
  assert.ok(polled() > 0, 'a fresh request is polled');

  // Eight days later (past --bitcoin-watch-days 7) the address is no longer polled, even when paid.
  const eightDaysAgo = new Date(Date.now() - 8 * 86_400_000).toISOString();
  await server.running.ctx.db.updateTable('deposit_addresses').set({ requested_at: eightDaysAgo }).where('address', '=', address).execute();
  await polledTwice();
  const before = polled();
  standIn.pay(address, 10_000); // 6.50 USD
  standIn.mine(2);
  await polledTwice();
  await polledTwice();
  assert.equal(polled(), before, 'a stale address costs no Esplora calls');
  assert.equal(await balanceOf(renter.api), 0);

  // The renter asks again: the same address is watched again and the payment credited.
  assert.equal((await renter.api.call('bitcoinDepositAddress')).address, address);
  await waitFor('the late payment', async () => (await balanceOf(renter.api)) === 6_500_000);
});

test('a stale rate or an unconfirmed jump stops quoting and crediting, saying why; a fresh rate credits what waited', async () => {
  const operator = await operatorClient(server.url, server.dataDir);
  const renter = await createRenter(server);
  const { address } = await renter.api.call('bitcoinDepositAddress');
  const btc = async () => (await server.api.call('topUpRails')).rails.find((r) => r.name === 'bitcoin')!;

  // The rate was set two hours ago: past --rate-max-age-minutes (60).
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
  await server.running.ctx.db.updateTable('exchange_rates').set({ set_at: twoHoursAgo }).where('coin', '=', 'BTC').execute();
  const stale = (await btc()) as { coins: { rate: string; unavailable?: string }[] };
  assert.match(
    stale.coins[0]!.unavailable ?? '',
    /^The BTC rate \(65000\.00\) was set 120 min ago, longer than the 60 min it is good for; the operator sets it with p2pvps admin rate set BTC RATE\.$/,
  );
  await assert.rejects(renter.api.call('bitcoinDepositAddress'), (err: ApiError) => {
    assert.equal(err.code, 'exchange_rate_unavailable');
    assert.equal(err.status, 503);
    assert.match(err.message, /was set 120 min ago/);
    return true;
  });
  standIn.pay(address, 100_000); // 0.001 BTC
  standIn.mine(2);
  await polledTwice();
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 0, 'not credited at a stale rate');

  // The operator fat-fingers a rate 10 times too low: held, and said why, until set again.
  const typo = await operator.call('adminSetRate', { body: { coin: 'btc', rate: '6000.00' } });
  assert.deepEqual(typo, {
    coin: 'BTC',
    rate: '6000.00',
    usable: false,
    unavailable: 'The BTC rate moved from 65000.00 to 6000.00, more than 10% at once; the operator confirms it by setting it again.',
  });
  await polledTwice();
  assert.equal(await balanceOf(renter.api), 0, 'not credited at an unconfirmed jump');

  // The right rate, close to the previous good one... of 6000.00: also a jump, so set twice.
  assert.equal((await operator.call('adminSetRate', { body: { coin: 'BTC', rate: '64000.00' } })).usable, false);
  assert.deepEqual(await operator.call('adminSetRate', { body: { coin: 'BTC', rate: '64000.00' } }), {
    coin: 'BTC',
    rate: '64000.00',
    usable: true,
  });
  await waitFor('the deposit at the fresh rate', async () => (await balanceOf(renter.api)) === 64_000_000);
  const fresh = (await btc()) as { coins: { rate: string; rateSetAt?: string; unavailable?: string }[] };
  assert.equal(fresh.coins[0]!.rate, '64000.00');
  assert.equal(fresh.coins[0]!.unavailable, undefined);
  assert.ok(fresh.coins[0]!.rateSetAt);
  await assert.rejects(operator.call('adminSetRate', { body: { coin: 'DOGE', rate: '1' } }), { code: 'invalid_request' });
  await assert.rejects(renter.api.call('adminSetRate', { body: { coin: 'BTC', rate: '1' } }), { status: 404 });
});
