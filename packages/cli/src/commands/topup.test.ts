import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DepositAddresses } from '@p2pvps/server/payments/bitcoin/address';
import { EsploraStandIn } from '@p2pvps/server/payments/bitcoin/esplora-stand-in';
import { PayPalStandIn } from '@p2pvps/server/payments/paypal/paypal-stand-in';
import { createRenter, startRailsServer, type RailsServer } from '@p2pvps/server/routes/topup-test-server';
import { runCli } from '../test-harness.ts';

/**
 * `p2pvps topup` against a real server with PayPal (local PayPal STAND-IN), Bitcoin (local
 * Esplora STAND-IN) and Ethereum (a node that is not there: addresses need none) enabled.
 */
const zpub = 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs';
const ethXpub = 'xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt';
let paypal: PayPalStandIn;
let esplora: EsploraStandIn;
let server: RailsServer;
let renterEnv: Record<string, string>;

before(async () => {
  paypal = await PayPalStandIn.start({ clientId: 'cli-client', clientSecret: 'cli-secret', webhookId: 'WH-CLI' });
  esplora = await EsploraStandIn.start();
  server = await startRailsServer({
    P2PVPS_RAILS: 'paypal,ethereum,bitcoin',
    P2PVPS_PAYPAL_API_URL: paypal.url,
    P2PVPS_PAYPAL_CLIENT_ID: 'cli-client',
    P2PVPS_PAYPAL_CLIENT_SECRET: 'cli-secret',
    P2PVPS_PAYPAL_WEBHOOK_ID: 'WH-CLI',
    P2PVPS_ETHEREUM_RPC_URL: 'http://127.0.0.1:9',
    P2PVPS_ETHEREUM_XPUB: ethXpub,
    P2PVPS_ETHEREUM_ETH_RATE: '3000',
    P2PVPS_ETHEREUM_TOKEN_ADDRESS: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48',
    P2PVPS_ETHEREUM_TOKEN_RATE: '1.00',
    P2PVPS_BITCOIN_ESPLORA_URL: esplora.url,
    P2PVPS_BITCOIN_XPUB: zpub,
    P2PVPS_BITCOIN_BTC_RATE: '65000.00',
  });
  const renter = await createRenter(server);
  const token = (await server.api.call('login', { body: { email: renter.email, password: 'correct horse battery' } })).token;
  renterEnv = { P2PVPS_SERVER: server.url, P2PVPS_TOKEN: token };
});

after(async () => {
  await server?.close();
  await Promise.all([paypal?.close(), esplora?.close()]);
});

test('topup lists the rails this server takes, with rates and confirmations', async () => {
  const listed = await runCli(['topup'], { env: { P2PVPS_SERVER: server.url } });
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(
    listed.stdout,
    [
      'Ways to top up your balance here:',
      '  operator   credit granted by the operator (ask them)',
      '  paypal     pay in USD at PayPal: p2pvps topup paypal AMOUNT',
      '  ethereum   ETH at 3000 USD, USDC at 1.00 USD; credited after 12 confirmations: p2pvps topup ethereum',
      '  bitcoin    BTC at 65000.00 USD; credited after 3 confirmations: p2pvps topup bitcoin',
      '',
    ].join('\n'),
  );
  const json = JSON.parse((await runCli(['topup', '--json'], { env: { P2PVPS_SERVER: server.url } })).stdout);
  assert.deepEqual(
    json.rails.map((r: { name: string }) => r.name),
    ['operator', 'paypal', 'ethereum', 'bitcoin'],
  );
});

test('topup paypal AMOUNT prints the link to pay at PayPal', async () => {
  const started = await runCli(['topup', 'paypal', '12.50'], { env: renterEnv });
  assert.equal(started.code, 0, started.stderr);
  const link = /^  (http\S+)$/m.exec(started.stdout)?.[1];
  assert.ok(link?.startsWith(`${paypal.url}/checkoutnow?token=`), started.stdout);
  assert.match(started.stdout, /^Open this link in a browser and pay 12\.50 USD at PayPal:/);

  const json = JSON.parse((await runCli(['topup', 'paypal', '5', '--json'], { env: renterEnv })).stdout);
  assert.equal(json.amountMicros, 5_000_000);
  assert.match(json.approveUrl, /checkoutnow\?token=/);

  const missing = await runCli(['topup', 'paypal'], { env: renterEnv });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing AMOUNT/);
  const odd = await runCli(['topup', 'paypal', '1.234567'], { env: renterEnv });
  assert.equal(odd.code, 1);
  assert.match(odd.stderr, /^error \[invalid_request\]: 1\.234567 USD cannot be charged/);
});

test('topup bitcoin and topup ethereum print the renter’s own address and the confirmations needed', async () => {
  const btc = await runCli(['topup', 'bitcoin'], { env: renterEnv });
  assert.equal(btc.code, 0, btc.stderr);
  const address = new DepositAddresses(zpub, 'mainnet').receiveAddress(0);
  const again = JSON.parse((await runCli(['topup', 'bitcoin', '--json'], { env: renterEnv })).stdout);
  assert.equal(again.address, address);
  assert.equal(again.confirmations, 3);
  const watchedUntil = Date.parse(again.watchedUntil);
  assert.ok(Math.abs(watchedUntil - (Date.now() + 7 * 86_400_000)) < 60_000, again.watchedUntil);
  assert.equal(
    btc.stdout,
    `Your Bitcoin deposit address (mainnet):\n\n  ${address}\n\n` +
      'Send BTC at 65000.00 USD to it; your balance is credited after 3 confirmations.\nThe address is yours alone and stays the same.\n' +
      `It is watched for payments until ${btc.stdout.match(/until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/)?.[1]} UTC; paying later, run p2pvps topup bitcoin again first.\n`,
  );

  const eth = await runCli(['topup', 'ethereum'], { env: renterEnv });
  assert.equal(eth.code, 0, eth.stderr);
  assert.match(eth.stdout, /^Your Ethereum deposit address \(chain ID 1\):\n\n {2}0x[0-9a-fA-F]{40}\n\n/);
  assert.match(
    eth.stdout,
    /Send ETH at 3000 USD, USDC \(contract 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\) at 1\.00 USD to it; .* after 12 confirmations\./,
  );

  const unknown = await runCli(['topup', 'dogecoin'], { env: renterEnv });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown payment rail "dogecoin"/);
  const help = await runCli(['topup', '--help'], { env: renterEnv });
  assert.match(help.stdout, /topup \[paypal AMOUNT \| ethereum \| bitcoin\]/);
});

test('admin rate feeds a coin’s rate; a jump is held until set again, and topup says why a coin is not quoted', async () => {
  // The operator the server made on first start, logged in with the password it wrote to its data directory.
  const password = (await readFile(join(server.dataDir, 'operator-password'), 'utf8')).trim();
  const { token } = await server.api.call('login', { body: { email: 'admin@localhost', password } });
  const operatorEnv = { P2PVPS_SERVER: server.url, P2PVPS_TOKEN: token };
  const fed = await runCli(['admin', 'rate', 'bitcoin', '66000.00'], { env: operatorEnv });
  assert.equal(fed.code, 0, fed.stderr);
  assert.equal(fed.stdout, 'BTC is now quoted and credited at 66000.00.\n');

  const jump = await runCli(['admin', 'rate', 'BTC', '6600'], { env: operatorEnv });
  assert.equal(jump.code, 0, jump.stderr);
  assert.equal(
    jump.stdout,
    'BTC is set to 6600, but not used yet: The BTC rate moved from 66000.00 to 6600, more than 10% at once; the operator confirms it by setting it again.\n',
  );
  const listed = await runCli(['topup'], { env: { P2PVPS_SERVER: server.url } });
  assert.match(
    listed.stdout,
    /\n {2}bitcoin {4}BTC not now \(The BTC rate moved from 66000\.00 to 6600, .*\); credited after 3 confirmations/,
  );
  const address = await runCli(['topup', 'bitcoin'], { env: renterEnv });
  assert.equal(address.code, 1);
  assert.match(address.stderr, /^error \[exchange_rate_unavailable\]: The BTC rate moved from 66000\.00 to 6600/);

  const renter = await runCli(['admin', 'rate', 'BTC', '6600'], { env: renterEnv });
  assert.notEqual(renter.code, 0, 'only the operator sets rates');
  assert.equal((await runCli(['admin', 'rate', 'BTC', '66000.00'], { env: operatorEnv })).code, 0);
});
