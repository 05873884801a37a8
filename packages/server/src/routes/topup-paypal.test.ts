/**
 * PayPal top-ups through the real server's API, against the local PayPal STAND-IN
 * (paypal-stand-in.ts: PayPal itself cannot be reached from the test machines).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiError } from '@p2pvps/protocol/client';
import { balanceOf as ledgerBalanceOf, post } from '../domain/money/ledger.ts';
import { PayPalClient } from '../payments/paypal/client.ts';
import { PayPalStandIn } from '../payments/paypal/paypal-stand-in.ts';
import { createRenter, freePortBlock, startRailsServer, type RailsServer } from './topup-test-server.ts';
import { ledgerTotal } from '../db/ledger-repo.ts';

const credentials = { clientId: 'client-stand-in', clientSecret: 'secret-stand-in', webhookId: 'WEBHOOK1' };
let standIn: PayPalStandIn;
let server: RailsServer;

before(async () => {
  standIn = await PayPalStandIn.start(credentials);
  const base = await freePortBlock();
  server = await startRailsServer(
    {
      P2PVPS_RAILS: 'paypal',
      P2PVPS_PAYPAL_API_URL: standIn.url,
      P2PVPS_PAYPAL_CLIENT_ID: credentials.clientId,
      P2PVPS_PAYPAL_CLIENT_SECRET: credentials.clientSecret,
      P2PVPS_PAYPAL_WEBHOOK_ID: credentials.webhookId,
      // The stand-in's webhooks and the tests' own requests all come from 127.0.0.1.
      P2PVPS_PAYPAL_CALLS_PER_IP_PER_MINUTE: '60',
    },
    base,
  );
  standIn.webhookUrl = `${server.url}/api/v1/topup/paypal/webhook`;
});

after(async () => {
  await server?.close();
  await standIn?.close();
});

/** What the renter's browser does: pays at PayPal, is sent back to the server's return page, and shows it. */
async function payInBrowser(approveUrl: string): Promise<{ status: number; page: string; returnUrl: URL }> {
  const atPayPal = await fetch(approveUrl, { redirect: 'manual' });
  assert.equal(atPayPal.status, 302);
  const returnUrl = new URL(atPayPal.headers.get('location')!);
  const back = await fetch(returnUrl, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  return { status: back.status, page: await back.text(), returnUrl };
}

const balanceOf = async (renter: { api: import('@p2pvps/protocol/client').ApiClient }) =>
  (await renter.api.call('getBalance')).balanceMicros;

test('the server lists PayPal beside operator credit, and documents the top-up routes', async () => {
  assert.deepEqual(await server.api.call('topUpRails'), {
    currency: 'USD',
    rails: [{ name: 'operator' }, { name: 'paypal', currency: 'USD' }],
  });
  const openApi = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, object> };
  for (const path of ['/api/v1/topup', '/api/v1/topup/paypal', '/api/v1/topup/paypal/return', '/api/v1/topup/paypal/webhook']) {
    assert.ok(openApi.paths[path], path);
  }
});

test('a renter tops up through PayPal: approve, come back, balance rises; webhooks delivered again credit nothing more', async () => {
  const renter = await createRenter(server);
  const topUp = await renter.api.call('startPayPalTopUp', { body: { amountMicros: 12_340_000 } });
  assert.equal(topUp.amountMicros, 12_340_000);
  assert.ok(topUp.approveUrl.startsWith(standIn.url));
  assert.equal(await balanceOf(renter), 0);

  const back = await payInBrowser(topUp.approveUrl);
  assert.equal(back.returnUrl.origin + back.returnUrl.pathname, `${server.url}/api/v1/topup/paypal/return`);
  assert.equal(back.status, 200);
  assert.match(back.page, /Payment received.*12\.34 USD has been added to your balance/s);
  assert.equal(await balanceOf(renter), 12_340_000);

  // PayPal's webhooks (approval, capture) arrived meanwhile; a redelivery of the capture, twice, changes nothing.
  await standIn.settled();
  const capture = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED' && w.body.includes(topUp.orderId))!;
  assert.ok(capture);
  assert.deepEqual(await Promise.all([standIn.deliver(capture), standIn.deliver(capture)]), [200, 200]);
  // So does the renter reloading the return page (JSON for scripts).
  const reload = await fetch(back.returnUrl, { headers: { accept: 'application/json' } });
  assert.deepEqual(await reload.json(), {
    status: 'already_credited',
    amountMicros: 12_340_000,
    currency: 'USD',
    reference: `PayPal capture ${JSON.parse(capture.body).resource.id}`,
  });

  assert.equal(await balanceOf(renter), 12_340_000);
  const deposits = (await renter.api.call('getStatement')).lines.filter((l) => l.kind === 'deposit');
  assert.equal(deposits.length, 1);
  assert.equal(deposits[0]!.amountMicros, 12_340_000);
  assert.match(deposits[0]!.memo, /^PayPal capture [A-Z0-9]+$/);
});

test('a capture the webhook brings first is credited once; the late return page says so', async () => {
  const renter = await createRenter(server);
  const topUp = await renter.api.call('startPayPalTopUp', { body: { amountMicros: 5_000_000 } });
  const atPayPal = await fetch(topUp.approveUrl, { redirect: 'manual' });
  const returnUrl = atPayPal.headers.get('location')!;
  // The return page's first request captured the order, then its answer was lost: only the webhook tells.
  await new PayPalClient({ baseUrl: standIn.url, ...credentials }).captureOrder(topUp.orderId);
  await standIn.settled();
  assert.equal(await balanceOf(renter), 5_000_000);

  const late = await fetch(returnUrl, { headers: { accept: 'text/html' } });
  assert.equal(late.status, 200);
  assert.match(await late.text(), /is already on your balance/);
  assert.equal(await balanceOf(renter), 5_000_000);
});

test('a forged or tampered webhook is rejected and changes nothing', async () => {
  const renter = await createRenter(server);
  const topUp = await renter.api.call('startPayPalTopUp', { body: { amountMicros: 2_000_000 } });
  standIn.approve(topUp.orderId);
  const url = standIn.webhookUrl;
  standIn.webhookUrl = undefined; // PayPal's own delivery of this capture is held back
  await new PayPalClient({ baseUrl: standIn.url, ...credentials }).captureOrder(topUp.orderId);
  standIn.webhookUrl = url;
  const genuine = standIn.webhooks.filter((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED').at(-1)!;
  const tampered = genuine.body.replace('"value":"2.00"', '"value":"2000.00"');
  assert.notEqual(tampered, genuine.body);

  for (const forged of [
    fetch(standIn.webhookUrl!, { method: 'POST', headers: { 'content-type': 'application/json', ...genuine.headers }, body: tampered }),
    fetch(standIn.webhookUrl!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...genuine.headers, 'paypal-transmission-sig': 'Zm9yZ2Vk' },
      body: genuine.body,
    }),
    fetch(standIn.webhookUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: genuine.body }),
  ]) {
    const res = await forged;
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'webhook_rejected');
  }
  assert.equal(await balanceOf(renter), 0);

  assert.equal(await standIn.deliver(genuine), 200);
  assert.equal(await balanceOf(renter), 2_000_000);
});

test('coming back before approving, an amount PayPal cannot charge, and rails that are off get clear errors', async () => {
  const renter = await createRenter(server);
  const topUp = await renter.api.call('startPayPalTopUp', { body: { amountMicros: 1_000_000 } });
  const early = await fetch(`${server.url}/api/v1/topup/paypal/return?token=${topUp.orderId}`);
  assert.equal(early.status, 409);
  assert.equal(((await early.json()) as { code: string }).code, 'payment_not_approved');
  const earlyPage = await fetch(`${server.url}/api/v1/topup/paypal/return?token=${topUp.orderId}`, { headers: { accept: 'text/html' } });
  assert.equal(earlyPage.status, 409);
  assert.match(await earlyPage.text(), /<h1>Payment not credited<\/h1><p>The payment has not been approved at PayPal yet/);

  await assert.rejects(renter.api.call('startPayPalTopUp', { body: { amountMicros: 1_234_567 } }), (err: ApiError) => {
    assert.equal(err.code, 'invalid_request');
    assert.match(err.fields?.['body.amountMicros'] ?? '', /1\.234567 USD cannot be charged/);
    return true;
  });
  await assert.rejects(renter.api.call('ethereumDepositAddress'), { code: 'payment_rail_disabled', status: 404 });
  await assert.rejects(renter.api.call('bitcoinDepositAddress'), { code: 'payment_rail_disabled', status: 404 });
  await assert.rejects(server.api.call('startPayPalTopUp', { body: { amountMicros: 1_000_000 } }), { code: 'unauthenticated' });
  assert.equal(await balanceOf(renter), 0);
});

test("a refund and a chargeback take the credit back, the part already spent out of the marketplace's fees, and the ledger stays balanced", async () => {
  const renter = await createRenter(server);
  const topUp = await renter.api.call('startPayPalTopUp', { body: { amountMicros: 10_000_000 } });
  await payInBrowser(topUp.approveUrl);
  await standIn.settled();
  assert.equal(await balanceOf(renter), 10_000_000);
  const captureId = standIn.captureIdOf(topUp.orderId);

  // The renter spends 7 of the 10 (a charge, as the meter would post), then files a chargeback after a partial refund.
  await post(server.running.ctx.db, {
    kind: 'rental_charge',
    memo: 'spent',
    at: new Date().toISOString(),
    postings: [
      { kind: 'renter_balance', userId: renter.id, amount: -7_000_000n },
      { kind: 'marketplace_fees', amount: 7_000_000n },
    ],
  });
  standIn.refund(captureId, '2.50');
  await standIn.settled();
  assert.equal(await balanceOf(renter), 500_000);
  const refundHook = standIn.webhooks.filter((w) => w.eventType === 'PAYMENT.CAPTURE.REFUNDED').at(-1)!;
  assert.equal(await standIn.deliver(refundHook), 200, 'a redelivery takes nothing more');
  assert.equal(await balanceOf(renter), 500_000);

  standIn.reverse(captureId);
  await standIn.settled();
  assert.equal(await balanceOf(renter), 0, 'what was left of the balance went back; the rest was spent');
  assert.equal(
    await ledgerBalanceOf(server.running.ctx.db, { kind: 'marketplace_fees' }),
    -2_500_000n,
    'the 9.50 that was spent, less the 7.00 it paid into the fees, is borne by the marketplace',
  );
  const lines = (await renter.api.call('getStatement')).lines.filter((l) => l.kind === 'deposit' || l.kind === 'deposit_reversal');
  assert.deepEqual(
    lines.map((l) => [l.amountMicros, l.memo.replace(/[A-Z0-9]{17}/g, 'ID')]),
    [
      [10_000_000, 'PayPal capture ID'],
      [-2_500_000, 'PayPal refund ID of capture ID'],
      [-500_000, 'PayPal chargeback of capture ID (the marketplace bears the part already spent)'],
    ],
  );
  assert.equal(await ledgerTotal(server.running.ctx.db), 0n);
});

test('the return page and the webhook cannot be used to flood PayPal', async () => {
  const before = standIn.requests;
  // Four waves of 50 at once: the front door lets one address hold 128 connections.
  const answers: (readonly [number, string])[] = [];
  for (let wave = 0; wave < 4; wave++) {
    answers.push(
      ...(await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fetch(`${server.url}/api/v1/topup/paypal/return?token=FLOOD${wave * 50 + i}`, { headers: { accept: 'application/json' } }).then(
            async (r) => [r.status, ((await r.json()) as { code: string }).code] as const,
          ),
        ),
      )),
    );
  }
  const throttled = answers.filter(([status, code]) => status === 429 && code === 'payment_requests_throttled').length;
  assert.ok(throttled >= 140, `${throttled} of 200 throttled`);
  assert.ok(standIn.requests - before <= 60, `${standIn.requests - before} calls to PayPal`);

  // A webhook from the same address is throttled too (PayPal itself would deliver again later).
  const hook = await fetch(`${server.url}/api/v1/topup/paypal/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'paypal-transmission-id': 'x',
      'paypal-transmission-time': 'x',
      'paypal-transmission-sig': 'x',
      'paypal-cert-url': 'x',
      'paypal-auth-algo': 'x',
    },
    body: '{"id":"WH-FLOOD","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"X"}}',
  });
  assert.equal(hook.status, 429);
});
