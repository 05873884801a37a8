import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import type { DepositEvent, DepositSink, ReversalEvent, ReversalSink } from '../rail.ts';
import { PayPalConfigError, type PayPalRailConfig } from './config.ts';
import { PayPalStandIn } from './paypal-stand-in.ts';
import { PayPalRail, userOfTopUp, type WebhookOutcome } from './rail.ts';

/**
 * A ledger as the rail sees it: applies each (rail, eventId) once. With `racy`, it checks
 * and records with a pause in between (no transaction), so only the rail can keep
 * concurrent deliveries of one capture from both being applied.
 */
function createLedger({ racy = false } = {}) {
  const applied: DepositEvent[] = [];
  const reversed: ReversalEvent[] = [];
  const sink: DepositSink = async (event) => {
    const seen = applied.some((e) => e.rail === event.rail && e.eventId === event.eventId);
    if (racy) await new Promise((resolve) => setTimeout(resolve, 20));
    if (seen) return false;
    applied.push(event);
    return true;
  };
  const reverse: ReversalSink = async (event) => {
    if (reversed.some((e) => e.eventId === event.eventId)) return 'already_reversed';
    if (!applied.some((e) => e.eventId === event.reverses)) return 'not_credited';
    reversed.push(event);
    return 'reversed';
  };
  /** What the renter's balance would be: credits less what was taken back. */
  const balance = (userId: string) =>
    applied.filter((e) => e.userId === userId).reduce((sum, e) => sum + e.amountMicros, 0n) -
    reversed.filter((e) => e.userId === userId).reduce((sum, e) => sum + e.amountMicros, 0n);
  return { applied, reversed, sink, reverse, balance };
}

/** Our webhook route, reduced to what the API will do: raw body in, outcome → status out. */
async function startWebhookRoute(t: TestContext, rail: PayPalRail) {
  const outcomes: WebhookOutcome[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const outcome = await rail.handleWebhook(req.headers, Buffer.concat(chunks));
      outcomes.push(outcome);
      res.writeHead(outcome.status === 'rejected' ? 400 : 200).end();
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/paypal`, outcomes };
}

function railConfig(baseUrl: string, changes: Partial<PayPalRailConfig> = {}): PayPalRailConfig {
  return {
    baseUrl,
    clientId: 'client-stand-in',
    clientSecret: 'secret-stand-in',
    webhookId: 'WEBHOOK1',
    currency: 'USD',
    returnUrl: 'http://127.0.0.1:9/topups/paypal/return',
    cancelUrl: 'http://127.0.0.1:9/topups/paypal/cancel',
    ...changes,
  };
}

/** A started rail against a PayPal stand-in that delivers webhooks to our route. */
async function createPayPalRail(t: TestContext, { racy = false, webhooks = true } = {}) {
  const standIn = await PayPalStandIn.start({ clientId: 'client-stand-in', clientSecret: 'secret-stand-in', webhookId: 'WEBHOOK1' });
  t.after(() => standIn.close());
  const rail = new PayPalRail(railConfig(standIn.url));
  const ledger = createLedger({ racy });
  await rail.start(ledger.sink, ledger.reverse);
  t.after(() => rail.close());
  const route = await startWebhookRoute(t, rail);
  if (webhooks) standIn.webhookUrl = route.url;
  return { standIn, rail, ledger, route };
}

/** The renter approves at PayPal; returns the order ID PayPal hands our return page. */
async function payerApproves(approveUrl: string): Promise<string> {
  const response = await fetch(approveUrl, { redirect: 'manual' });
  const back = new URL(response.headers.get('location')!);
  assert.equal(back.pathname, '/topups/paypal/return');
  return back.searchParams.get('token')!;
}

test('a top-up is created, approved and captured, and credits the renter the exact amount once', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t, { webhooks: false });
  const topUp = await rail.startTopUp('renter1', 12_340_000n);
  assert.equal(userOfTopUp(topUp.topUpId), 'renter1');
  const orderId = await payerApproves(topUp.approveUrl);
  assert.equal(orderId, topUp.orderId);

  const outcome = await rail.complete(orderId);
  assert.equal(outcome.status, 'credited');
  // PayPal's webhooks for the approval and the capture arrive after the renter is back.
  standIn.webhookUrl = route.url;
  for (const webhook of standIn.webhooks) assert.equal(await standIn.deliver(webhook), 200);
  assert.equal(ledger.applied.length, 1);
  const [event] = ledger.applied;
  const captureId: string = JSON.parse(standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED')!.body).resource.id;
  assert.deepEqual(event, {
    rail: 'paypal',
    eventId: captureId,
    userId: 'renter1',
    amountMicros: 12_340_000n,
    reference: `PayPal capture ${captureId}`,
    occurredAt: event!.occurredAt,
  });
  assert.ok(!Number.isNaN(Date.parse(event!.occurredAt)));
  // The approval webhook is genuine but needs nothing; the capture webhook found it credited.
  assert.deepEqual(
    route.outcomes.map((o) => o.status),
    ['ignored', 'already_credited'],
  );
});

test('completing before the renter approved is refused clearly and credits nothing', async (t) => {
  const { rail, ledger } = await createPayPalRail(t, { webhooks: false });
  const topUp = await rail.startTopUp('renter1', 5_000_000n);
  assert.deepEqual(await rail.complete(topUp.orderId), {
    status: 'not_approved',
    message: 'The payment has not been approved at PayPal yet; approve it there first.',
  });
  assert.equal(ledger.applied.length, 0);

  // Approving afterwards still works.
  await payerApproves(topUp.approveUrl);
  assert.equal((await rail.complete(topUp.orderId)).status, 'credited');
  assert.equal(ledger.applied.length, 1);
});

test('a capture arriving by webhook first and by the return page second is credited once', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t);
  const topUp = await rail.startTopUp('renter2', 7_500_000n);
  await payerApproves(topUp.approveUrl);
  // Another server instance (or a double click) captured it; the webhook arrives first.
  await rail.client.captureOrder(topUp.orderId);
  await standIn.settled();
  assert.equal(route.outcomes.at(-1)?.status, 'credited');

  const late = await rail.complete(topUp.orderId);
  assert.equal(late.status, 'already_credited');
  assert.equal(ledger.applied.length, 1);
  assert.equal(ledger.applied[0]!.amountMicros, 7_500_000n);
  assert.equal(ledger.applied[0]!.userId, 'renter2');
  assert.deepEqual(late.status === 'already_credited' && late.event, ledger.applied[0]);
});

test('a tampered or forged webhook is refused and changes nothing; the genuine one then credits', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t, { webhooks: false });
  const topUp = await rail.startTopUp('renter3', 2_000_000n);
  await payerApproves(topUp.approveUrl);
  await rail.client.captureOrder(topUp.orderId);
  const genuine = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED')!;
  standIn.webhookUrl = route.url;

  const tampered = genuine.body.replace('"value":"2.00"', '"value":"2000.00"').replace('topup:renter3:', 'topup:attacker:');
  assert.notEqual(tampered, genuine.body);
  assert.equal(await standIn.deliver(genuine, { body: tampered }), 400);
  assert.equal(await standIn.deliver(genuine, { headers: { 'paypal-transmission-sig': 'Zm9yZ2Vk' } }), 400);
  assert.equal(await standIn.deliver({ ...genuine, headers: {} }), 400);
  assert.deepEqual(route.outcomes[0], {
    status: 'rejected',
    message: 'The webhook is not verifiably from PayPal (missing or wrong signature, or a changed body).',
  });
  assert.equal(ledger.applied.length, 0);

  assert.equal(await standIn.deliver(genuine), 200);
  assert.equal(ledger.applied.length, 1);
  assert.equal(ledger.applied[0]!.amountMicros, 2_000_000n);
  assert.equal(ledger.applied[0]!.userId, 'renter3');
});

test('a webhook delivered twice, one after the other or at once, is credited once', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t, { racy: true, webhooks: false });
  const sequential = await rail.startTopUp('renter4', 1_000_000n);
  const concurrent = await rail.startTopUp('renter5', 3_000_000n);
  for (const topUp of [sequential, concurrent]) {
    await payerApproves(topUp.approveUrl);
    await rail.client.captureOrder(topUp.orderId);
  }
  const [first, second] = standIn.webhooks.filter((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED');
  standIn.webhookUrl = route.url;

  assert.equal(await standIn.deliver(first!), 200);
  assert.equal(await standIn.deliver(first!), 200);
  assert.deepEqual(await Promise.all([standIn.deliver(second!), standIn.deliver(second!), standIn.deliver(second!)]), [200, 200, 200]);

  assert.deepEqual(
    ledger.applied.map((e) => [e.userId, e.amountMicros]),
    [
      ['renter4', 1_000_000n],
      ['renter5', 3_000_000n],
    ],
  );
  assert.deepEqual(route.outcomes.map((o) => o.status).sort(), [
    'already_credited',
    'already_credited',
    'already_credited',
    'credited',
    'credited',
  ]);
});

test('PayPal being unreachable during verification is an error (PayPal redelivers), not a refusal', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t, { webhooks: false });
  const topUp = await rail.startTopUp('renter6', 1_000_000n);
  await payerApproves(topUp.approveUrl);
  await rail.client.captureOrder(topUp.orderId);
  const genuine = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED')!;
  standIn.webhookUrl = route.url;
  standIn.revokeTokens();
  standIn.replyDelayMs = 200;
  const impatient = new PayPalRail({ ...rail.config, timeoutMs: 50 });
  await impatient.start(ledger.sink);
  await assert.rejects(impatient.handleWebhook(genuine.headers, genuine.body), { name: 'PayPalError', kind: 'timeout' });
  assert.equal(ledger.applied.length, 0);
});

test('a top-up of an amount PayPal cannot charge is refused before any order exists', async (t) => {
  const { standIn, rail } = await createPayPalRail(t);
  await assert.rejects(
    rail.startTopUp('renter1', 1_234_567n),
    /1\.234567 USD cannot be charged.*nearest chargeable amount above is 1\.24 USD/,
  );
  await assert.rejects(rail.startTopUp('not a user id', 1_000_000n), RangeError);
  assert.equal(standIn.tokenRequests, 0);
});

test('the config is checked at construction, with every problem in one error', () => {
  assert.throws(
    () => new PayPalRail(railConfig('ftp://api-m.paypal.com', { clientId: '', currency: 'XBT', webhookId: ' ' })),
    (error: unknown) => {
      assert.ok(error instanceof PayPalConfigError);
      assert.deepEqual(error.problems, [
        'The PayPal client ID is missing.',
        'The PayPal webhook ID (PayPal shows it next to the webhook URL in the developer dashboard) is missing.',
        'The PayPal base URL "ftp://api-m.paypal.com" must use https (plain http is allowed only on loopback, for tests).',
        'The currency "XBT" is not supported by the PayPal rail; use one of USD, EUR, GBP, CAD, AUD, CHF, JPY.',
      ]);
      assert.match(error.message, /^The PayPal rail is misconfigured:\n- The PayPal client ID is missing\.\n/);
      return true;
    },
  );
  assert.throws(() => new PayPalRail(railConfig('not a url')), /base URL "not a url" is not a URL/);
  assert.throws(() => new PayPalRail(railConfig('http://api-m.paypal.com')), /must use https/);
  assert.throws(() => new PayPalRail(railConfig('https://api-m.paypal.com/v2')), /just a scheme and host/);
  assert.throws(
    () => new PayPalRail(railConfig('https://api-m.paypal.com', { returnUrl: 'nope', timeoutMs: 0 })),
    (error: unknown) => {
      assert.ok(error instanceof PayPalConfigError);
      assert.equal(error.problems.length, 2);
      return true;
    },
  );
  assert.equal(new PayPalRail(railConfig('https://api-m.sandbox.paypal.com', { currency: 'JPY' })).config.currency, 'JPY');
});

test('the rail refuses work before start and after close; close is idempotent', async () => {
  const rail = new PayPalRail(railConfig('https://api-m.sandbox.paypal.com'));
  await assert.rejects(rail.startTopUp('renter1', 1_000_000n), /has not been started/);
  await rail.start(createLedger().sink);
  await rail.close();
  await rail.close();
  await assert.rejects(rail.complete('ORDER'), /is closed/);
});

/** A top-up of `amountMicros` approved and captured at the stand-in; returns the capture ID. */
async function paidTopUp(rail: PayPalRail, standIn: PayPalStandIn, userId: string, amountMicros: bigint): Promise<string> {
  const topUp = await rail.startTopUp(userId, amountMicros);
  await payerApproves(topUp.approveUrl);
  await rail.client.captureOrder(topUp.orderId);
  await standIn.settled();
  return standIn.captureIdOf(topUp.orderId);
}

test('refunds, a chargeback and a denial take the credit back once, even below what is left', async (t) => {
  const { standIn, rail, ledger, route } = await createPayPalRail(t);
  const refunded = await paidTopUp(rail, standIn, 'renter7', 10_000_000n);
  assert.equal(ledger.balance('renter7'), 10_000_000n);

  // Two partial refunds, the first delivered twice; then a chargeback of a second top-up.
  const first = standIn.refund(refunded, '4.00');
  standIn.refund(refunded, '6.00');
  await standIn.settled();
  assert.equal(await standIn.deliver(standIn.webhooks.find((w) => w.body.includes(first))!), 200);
  assert.equal(ledger.balance('renter7'), 0n);
  const chargedBack = await paidTopUp(rail, standIn, 'renter7', 5_000_000n);
  standIn.reverse(chargedBack);
  await standIn.settled();
  assert.equal(ledger.balance('renter7'), 0n);
  const reversals = ledger.reversed.map((e) => [e.eventId, e.reverses, e.amountMicros, e.reference]);
  assert.deepEqual(
    reversals.sort((a, b) => Number((a[2] as bigint) - (b[2] as bigint))),
    [
      [`refund:${first}`, refunded, 4_000_000n, `PayPal refund ${first} of capture ${refunded}`],
      [`reversal:${chargedBack}`, chargedBack, 5_000_000n, `PayPal chargeback of capture ${chargedBack}`],
      [reversals[2]![0], refunded, 6_000_000n, reversals[2]![3]],
    ],
  );
  assert.deepEqual(
    route.outcomes.map((o) => o.status).filter((s) => s.endsWith('reversed')),
    ['reversed', 'reversed', 'already_reversed', 'reversed'],
  );

  // A payment that stays PENDING is not credited; its denial takes nothing back.
  standIn.captureStatus = 'PENDING';
  const denied = await paidTopUp(rail, standIn, 'renter8', 3_000_000n);
  standIn.deny(denied);
  await standIn.settled();
  assert.equal(ledger.balance('renter8'), 0n);
  assert.equal(route.outcomes.at(-1)?.status, 'ignored');
});

test('a refund webhook that overtakes the capture still nets to zero', async (t) => {
  const { standIn, rail, ledger } = await createPayPalRail(t, { webhooks: false });
  const captureId = await paidTopUp(rail, standIn, 'renter9', 2_000_000n);
  standIn.refund(captureId);
  const refundHook = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.REFUNDED')!;
  const outcome = await rail.handleWebhook(refundHook.headers, refundHook.body);
  assert.equal(outcome.status, 'reversed');
  const completed = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED')!;
  assert.equal((await rail.handleWebhook(completed.headers, completed.body)).status, 'ignored', 'PayPal says REFUNDED now');
  assert.equal(ledger.balance('renter9'), 0n);
  assert.equal(ledger.applied.length, 1);
});

test("a webhook's amount, custom_id and status come from PayPal, not from the body", async (t) => {
  const { standIn, rail, ledger } = await createPayPalRail(t, { webhooks: false });
  const topUp = await rail.startTopUp('renter10', 2_000_000n);
  await payerApproves(topUp.approveUrl);
  standIn.captureStatus = 'PENDING';
  await rail.client.captureOrder(topUp.orderId);
  const captureId = standIn.captureIdOf(topUp.orderId);
  // A body that passes the signature check but lies: completed, 2000.00, for another user.
  const forged = standIn.signEvent('PAYMENT.CAPTURE.COMPLETED', 'capture', {
    id: captureId,
    status: 'COMPLETED',
    amount: { currency_code: 'USD', value: '2000.00' },
    custom_id: 'topup:attacker:AAAAAAAAAAAA',
  });
  assert.deepEqual(await rail.handleWebhook(forged.headers, forged.body), {
    status: 'ignored',
    reason: `PayPal says capture ${captureId} is PENDING.`,
  });
  assert.equal(ledger.applied.length, 0);

  standIn.completePending(captureId);
  assert.equal((await rail.handleWebhook(forged.headers, forged.body)).status, 'credited');
  assert.deepEqual(
    ledger.applied.map((e) => [e.userId, e.amountMicros]),
    [['renter10', 2_000_000n]],
  );
});

test('the unauthenticated paths cause a bounded number of calls to PayPal', async (t) => {
  const { standIn, rail } = await createPayPalRail(t, { webhooks: false });
  const limited = new PayPalRail({ ...rail.config, callsPerSourcePerMinute: 5, maxConcurrentCalls: 2 });
  await limited.start(createLedger().sink);
  t.after(() => limited.close());
  await limited.complete('WARMUP', 'warmup'); // the token, fetched once
  let before = standIn.requests;

  // One address asking for 50 made-up orders: 5 reach PayPal (one call each), 45 are refused.
  const flood = [];
  for (let i = 0; i < 50; i++) flood.push(await limited.complete(`NOSUCH${i}`, '192.0.2.1'));
  assert.equal(flood.filter((o) => o.status === 'throttled').length, 45);
  assert.equal(standIn.requests - before, 5);

  // An order PayPal said is unknown costs no call the second time, from anywhere.
  before = standIn.requests;
  for (let i = 0; i < 3; i++) assert.equal((await limited.complete('NOSUCH0', `198.51.100.${i}`)).status, 'ignored');
  assert.equal(standIn.requests, before);

  // Many addresses at once: never more than 2 requests at PayPal at a time.
  standIn.replyDelayMs = 50;
  standIn.maxInFlight = 0;
  const spread = await Promise.all(Array.from({ length: 20 }, (_, i) => limited.complete(`OTHER${i}`, `203.0.113.${i}`)));
  assert.ok(standIn.maxInFlight <= 2, `${standIn.maxInFlight} at once`);
  assert.equal(spread.filter((o) => o.status !== 'throttled').length, 2);
  standIn.replyDelayMs = 0;

  // A webhook flood with made-up transmission headers: each verification is a call, so they are throttled per address.
  before = standIn.requests;
  const forged = {
    'paypal-transmission-id': 'x',
    'paypal-transmission-time': 'x',
    'paypal-transmission-sig': 'x',
    'paypal-cert-url': 'x',
    'paypal-auth-algo': 'x',
  };
  const hooks = [];
  for (let i = 0; i < 30; i++) hooks.push(await limited.handleWebhook(forged, '{"id":"WH-1","event_type":"X"}', '192.0.2.9'));
  assert.equal(hooks.filter((o) => o.status === 'rejected').length, 5);
  assert.equal(standIn.requests - before, 5);
});
