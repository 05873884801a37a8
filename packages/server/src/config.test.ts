import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '@p2pvps/protocol/options';
import { loadServerConfig } from './config.ts';

test('embedded defaults start a local marketplace', () => {
  const c = loadServerConfig([], {});
  assert.equal(c.httpPort, 8080);
  assert.deepEqual(c.sshPortRange, [20000, 20999]);
  assert.equal(c.databaseUrl, 'sqlite:.data/server/p2pvps.sqlite');
  assert.equal(c.publicUrl, 'http://127.0.0.1:8080');
  assert.equal(c.currency, 'USD');
});

test('a port range inside the ephemeral range is refused, with every other problem at once', () => {
  assert.throws(
    () =>
      loadServerConfig(['--ssh-port-range', '40000-40100', '--http-port', '99999'], {
        P2PVPS_CURRENCY: 'dollars',
        P2PVPS_DATABASE_URL: 'mysql://x',
      }),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /ssh-port-range.*ephemeral range 32768-60999/);
      assert.match(text, /--http-port/);
      assert.match(text, /--currency.*three-letter/);
      assert.match(text, /--database-url.*sqlite:PATH/);
      assert.equal(err.problems.length, 4);
      return true;
    },
  );
});

test('a PostgreSQL URL is a database several nodes may share', () => {
  const url = 'postgres://p2pvps@db.example.org:5432/p2pvps';
  assert.equal(loadServerConfig(['--database-url', url], {}).databaseUrl, url);
  assert.equal(
    loadServerConfig([], { P2PVPS_DATABASE_URL: 'postgresql:///p2pvps?host=/run/postgresql' }).databaseUrl,
    'postgresql:///p2pvps?host=/run/postgresql',
  );
});

test('derived defaults follow the options they come from', () => {
  const c = loadServerConfig(['--data-dir', '/srv/p2pvps', '--ssh-host', 'vps.example.org', '--http-port', '9000'], {});
  assert.equal(c.databaseUrl, 'sqlite:/srv/p2pvps/p2pvps.sqlite');
  assert.equal(c.publicUrl, 'http://vps.example.org:9000');
});

const zpub = 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs';
// The account xpub (m/44'/60'/0') of the "abandon … about" test mnemonic.
const ethXpub = 'xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt';

test('payment rails are off by default: only operator credit', () => {
  const c = loadServerConfig([], {});
  assert.deepEqual(c.rails, []);
});

test('an enabled rail with missing or bad settings stops the start, with every problem at once', () => {
  assert.throws(
    () =>
      loadServerConfig(['--rails', 'paypal,ethereum,bitcoin', '--http-port', '99999'], {
        P2PVPS_PAYPAL_API_URL: 'http://api-m.paypal.com',
        P2PVPS_PAYPAL_CLIENT_SECRET: 'hunter2-very-secret',
        P2PVPS_ETHEREUM_XPUB:
          'xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LSF5EZdrrDNbNv8NXqRMp6uVsZrt1RWYY9',
        P2PVPS_ETHEREUM_ETH_RATE: '3000.00',
        P2PVPS_ETHEREUM_TOKEN_ADDRESS: '0x1234',
        P2PVPS_BITCOIN_XPUB: zpub,
        P2PVPS_BITCOIN_NETWORK: 'testnet',
        P2PVPS_BITCOIN_BTC_RATE: '0',
      }),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /--http-port/);
      assert.match(text, /--paypal-client-id \/ P2PVPS_PAYPAL_CLIENT_ID: The PayPal client ID is missing\./);
      assert.match(text, /--paypal-webhook-id .*webhook ID .* is missing/);
      assert.match(text, /--paypal-api-url .*must use https/);
      assert.match(text, /--ethereum-rpc-url .*needs the JSON-RPC URL/);
      assert.match(text, /--ethereum-xpub .*extended PRIVATE key/);
      assert.match(text, /--ethereum-token-address .*"0x1234" is not an Ethereum address/);
      assert.match(text, /--ethereum-token-rate .*needs the rate of the token \(USDC\)/);
      assert.match(text, /--bitcoin-xpub .*mainnet key \(zpub\) but the rail is configured for testnet/);
      assert.match(text, /--bitcoin-btc-rate .*greater than zero/);
      assert.match(text, /--bitcoin-esplora-url .*needs the Esplora API of your own node/);
      assert.doesNotMatch(text, /hunter2|xprv9s21/, 'secrets and keys are never echoed');
      assert.equal(err.problems.length, 11);
      return true;
    },
  );
});

test('settings of a rail that is off are a mistake the operator hears about', () => {
  assert.throws(
    () => loadServerConfig([], { P2PVPS_PAYPAL_CLIENT_ID: 'abc', P2PVPS_BITCOIN_XPUB: zpub }),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      assert.deepEqual(err.problems, [
        '--paypal-client-id / P2PVPS_PAYPAL_CLIENT_ID: is set, but the paypal rail is off; add paypal to --rails to take payments through it.',
        '--bitcoin-xpub / P2PVPS_BITCOIN_XPUB: is set, but the bitcoin rail is off; add bitcoin to --rails to take payments through it.',
      ]);
      return true;
    },
  );
  assert.throws(() => loadServerConfig(['--rails', 'paypal,dogecoin'], {}), /--rails .*comma list of paypal, ethereum, bitcoin/);
});

test('enabled rails with good settings load, with their defaults', () => {
  const c = loadServerConfig(['--rails', 'PayPal, ethereum,bitcoin', '--public-url', 'https://market.example.org/'], {
    P2PVPS_PAYPAL_CLIENT_ID: 'id',
    P2PVPS_PAYPAL_CLIENT_SECRET: 'secret',
    P2PVPS_PAYPAL_WEBHOOK_ID: 'WH1',
    P2PVPS_ETHEREUM_RPC_URL: 'http://127.0.0.1:8545',
    P2PVPS_ETHEREUM_XPUB: ethXpub,
    P2PVPS_ETHEREUM_ETH_RATE: '3000.00',
    P2PVPS_BITCOIN_XPUB: zpub,
    P2PVPS_BITCOIN_BTC_RATE: '65000',
    P2PVPS_BITCOIN_ESPLORA_URL: 'http://127.0.0.1:3002',
  });
  assert.deepEqual(c.rails, ['paypal', 'ethereum', 'bitcoin']);
  assert.equal(c.paypalReturnUrl, 'https://market.example.org/api/v1/topup/paypal/return');
  assert.equal(c.paypalApiUrl, 'https://api-m.paypal.com');
  assert.equal(c.ethereumConfirmations, 12);
  assert.equal(c.bitcoinConfirmations, 3);
  assert.equal(c.bitcoinEsploraUrl, 'http://127.0.0.1:3002');
  assert.equal(c.bitcoinWatchDays, 7);
});

test('secrets can come from files instead of flags, which ps and shell history show', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-secrets-'));
  writeFileSync(join(dir, 'smtp-url'), 'smtps://mailer:s3cret@smtp.example.org:465\n', { mode: 0o600 });
  writeFileSync(join(dir, 'paypal-secret'), 'paypal-s3cret\n', { mode: 0o600 });
  const c = loadServerConfig(
    ['--rails', 'paypal', '--smtp-url-file', join(dir, 'smtp-url'), '--public-url', 'https://market.example.org'],
    {
      P2PVPS_PAYPAL_CLIENT_ID: 'id',
      P2PVPS_PAYPAL_CLIENT_SECRET_FILE: join(dir, 'paypal-secret'),
      P2PVPS_PAYPAL_WEBHOOK_ID: 'WH1',
    },
  );
  assert.equal(c.smtpUrl, 'smtps://mailer:s3cret@smtp.example.org:465');
  assert.equal(c.paypalClientSecret, 'paypal-s3cret');
  // The option itself still wins over the file.
  assert.equal(
    loadServerConfig([], { P2PVPS_SMTP_URL: 'smtp://a.example.org', P2PVPS_SMTP_URL_FILE: join(dir, 'smtp-url') }).smtpUrl,
    'smtp://a.example.org',
  );
  assert.throws(
    () => loadServerConfig(['--smtp-url-file', join(dir, 'missing')], {}),
    new RegExp(`--smtp-url-file / P2PVPS_SMTP_URL_FILE: cannot read ${join(dir, 'missing')}`),
  );
});

test("the gateway's pre-login caps default to sshd-like values and read sshd's syntax", () => {
  const c = loadServerConfig([], {});
  assert.deepEqual(c.gatewayMaxStartups, { start: 64, rate: 30, full: 256 });
  assert.equal(c.gatewayMaxStartupsPerSource, 8);
  assert.equal(c.gatewayMaxConnectionsPerKey, 4);
  assert.deepEqual(c.gatewayPenalties, {
    authfailMs: 5_000,
    noauthMs: 1_000,
    graceExceededMs: 10_000,
    minMs: 15_000,
    maxMs: 600_000,
    maxSources: 65_536,
  });
  const custom = loadServerConfig(['--gateway-penalties', 'authfail:30s min:60'], { P2PVPS_GATEWAY_MAX_STARTUPS: '10:50:20' });
  assert.equal(custom.gatewayPenalties?.authfailMs, 30_000);
  assert.equal(custom.gatewayPenalties?.minMs, 60_000);
  assert.equal(custom.gatewayPenalties?.noauthMs, 1_000, 'unnamed keys keep their defaults');
  assert.deepEqual(custom.gatewayMaxStartups, { start: 10, rate: 50, full: 20 });
  assert.equal(loadServerConfig(['--gateway-penalties', 'off'], {}).gatewayPenalties, null);
  assert.throws(
    () => loadServerConfig(['--gateway-max-startups', '300:30:256', '--gateway-penalties', 'authfail=5'], {}),
    (err: unknown) => err instanceof OptionsError && err.problems.length === 2,
  );
});
