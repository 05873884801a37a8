import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { PayPalClient, type PayPalClientOptions } from './client.ts';
import { PayPalError } from './paypal-error.ts';
import { PayPalStandIn, type PayPalStandInOptions } from './paypal-stand-in.ts';

const credentials = { clientId: 'client-stand-in', clientSecret: 'secret-stand-in' };

/** A PayPal stand-in on loopback and a client for it, both closed after the test. */
async function createPayPal(t: TestContext, options: Partial<PayPalStandInOptions> = {}, client: Partial<PayPalClientOptions> = {}) {
  const standIn = await PayPalStandIn.start({ ...credentials, webhookId: 'WEBHOOK1', ...options });
  t.after(() => standIn.close());
  return { standIn, client: new PayPalClient({ baseUrl: standIn.url, ...credentials, ...client }) };
}

test('an order is created, approved by the payer and captured for the exact amount', async (t) => {
  const { standIn, client } = await createPayPal(t);
  const order = await client.createOrder(12_340_000n, 'USD', 'topup:u1:abcdefgh', {
    returnUrl: 'http://127.0.0.1:9/paypal/return',
    cancelUrl: 'http://127.0.0.1:9/paypal/cancel',
  });
  assert.match(order.approveUrl, new RegExp(`^${standIn.url}/checkoutnow\\?token=${order.orderId}$`));

  // The payer's browser at PayPal: approving sends it back to our return URL with the order ID.
  const atPayPal = await fetch(order.approveUrl, { redirect: 'manual' });
  assert.equal(atPayPal.status, 302);
  const back = new URL(atPayPal.headers.get('location')!);
  assert.equal(`${back.origin}${back.pathname}`, 'http://127.0.0.1:9/paypal/return');
  assert.equal(back.searchParams.get('token'), order.orderId);

  const capture = await client.captureOrder(order.orderId);
  assert.equal(capture.status, 'COMPLETED');
  assert.equal(capture.amountMicros, 12_340_000n);
  assert.equal(capture.currency, 'USD');
  assert.equal(capture.customId, 'topup:u1:abcdefgh');
  assert.equal(capture.orderId, order.orderId);
  assert.deepEqual(await client.findCapture(order.orderId), capture);
});

test('capturing before the payer approved is refused with PayPal’s name, issue, debug ID and status', async (t) => {
  const { client } = await createPayPal(t);
  const order = await client.createOrder(5_000_000n, 'EUR', 'topup:u1:notapproved');
  assert.equal(await client.findCapture(order.orderId), null);
  await assert.rejects(client.captureOrder(order.orderId), (error: unknown) => {
    assert.ok(error instanceof PayPalError);
    assert.equal(error.kind, 'http');
    assert.equal(error.status, 422);
    assert.equal(error.paypalName, 'UNPROCESSABLE_ENTITY');
    assert.equal(error.issue, 'ORDER_NOT_APPROVED');
    assert.match(error.debugId ?? '', /^[0-9a-f]{12}$/);
    assert.match(
      error.message,
      /^PayPal refused to capture order \w+: UNPROCESSABLE_ENTITY\/ORDER_NOT_APPROVED: Payer has not yet approved/,
    );
    assert.match(error.message, /HTTP 422, debug_id [0-9a-f]{12}/);
    return true;
  });
});

test('a second capture is refused as ORDER_ALREADY_CAPTURED; an unknown order as RESOURCE_NOT_FOUND', async (t) => {
  const { standIn, client } = await createPayPal(t);
  const order = await client.createOrder(1_000_000_000n, 'JPY', 'topup:u1:twice1234');
  standIn.approve(order.orderId);
  const capture = await client.captureOrder(order.orderId);
  assert.equal(capture.amountMicros, 1_000_000_000n);
  await assert.rejects(client.captureOrder(order.orderId), { issue: 'ORDER_ALREADY_CAPTURED', status: 422 });
  await assert.rejects(client.captureOrder('NOSUCHORDER'), { paypalName: 'RESOURCE_NOT_FOUND', status: 404 });
});

test('one token serves many calls, including concurrent first calls', async (t) => {
  const { standIn, client } = await createPayPal(t);
  const orders = await Promise.all([1, 2, 3].map((n) => client.createOrder(BigInt(n) * 1_000_000n, 'USD', `topup:u1:concurrent${n}`)));
  for (const order of orders) await client.findCapture(order.orderId);
  const forged = {
    'paypal-transmission-id': 'forged',
    'paypal-transmission-time': new Date().toISOString(),
    'paypal-transmission-sig': 'forged',
    'paypal-cert-url': `${standIn.url}/cert`,
    'paypal-auth-algo': 'SHA256withRSA',
  };
  assert.equal(await client.verifyWebhook(forged, '{"id":"WH-1"}', 'WEBHOOK1'), false);
  assert.equal(standIn.tokenRequests, 1);
});

test('a token is renewed shortly before it expires, and once more when PayPal revokes it early', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const { standIn, client } = await createPayPal(t, { tokenLifetimeSeconds: 3600 }, { now: () => now });
  await client.createOrder(1_000_000n, 'USD', 'topup:u1:expiry001');
  now += 3600_000 - 61_000; // still more than a minute left
  await client.createOrder(1_000_000n, 'USD', 'topup:u1:expiry002');
  assert.equal(standIn.tokenRequests, 1);
  now += 2_000; // under a minute left: renew rather than risk it expiring in flight
  await client.createOrder(1_000_000n, 'USD', 'topup:u1:expiry003');
  assert.equal(standIn.tokenRequests, 2);

  standIn.revokeTokens();
  await client.createOrder(1_000_000n, 'USD', 'topup:u1:expiry004');
  assert.equal(standIn.tokenRequests, 3);
});

test('wrong credentials are a PayPalError carrying the OAuth error', async (t) => {
  const { standIn } = await createPayPal(t);
  const client = new PayPalClient({ baseUrl: standIn.url, clientId: credentials.clientId, clientSecret: 'wrong' });
  await assert.rejects(client.createOrder(1_000_000n, 'USD', 'topup:u1:badsecret'), {
    name: 'PayPalError',
    kind: 'http',
    status: 401,
    paypalName: 'invalid_client',
    message: 'PayPal refused to get an access token: invalid_client: Client Authentication failed (HTTP 401).',
  });
});

test('amounts PayPal cannot charge are refused before anything is sent', async (t) => {
  const { standIn, client } = await createPayPal(t);
  await assert.rejects(client.createOrder(1_234_567n, 'USD', 'topup:u1:finer0001'), { name: 'UnrepresentableAmount' });
  await assert.rejects(client.createOrder(0n, 'USD', 'topup:u1:zero00001'), /above zero/);
  await assert.rejects(client.createOrder(1_000_000n, 'XBT', 'topup:u1:currency1'), /does not support the currency "XBT"/);
  assert.equal(standIn.tokenRequests, 0);
});

test('the same custom ID (PayPal-Request-Id) returns the same order rather than a second one', async (t) => {
  const { client } = await createPayPal(t);
  const first = await client.createOrder(1_000_000n, 'USD', 'topup:u1:retried01');
  const again = await client.createOrder(1_000_000n, 'USD', 'topup:u1:retried01');
  assert.equal(again.orderId, first.orderId);
});

test('a slow PayPal is a timeout error, an unreachable one a network error', async (t) => {
  const { standIn } = await createPayPal(t);
  standIn.replyDelayMs = 500;
  const slow = new PayPalClient({ baseUrl: standIn.url, ...credentials, timeoutMs: 100 });
  await assert.rejects(slow.createOrder(1_000_000n, 'USD', 'topup:u1:slow00001'), {
    kind: 'timeout',
    message: 'PayPal did not answer within 100 ms when asked to get an access token; it may or may not have done it.',
  });

  const closed = await PayPalStandIn.start({ ...credentials, webhookId: 'W' });
  await closed.close();
  const unreachable = new PayPalClient({ baseUrl: closed.url, ...credentials });
  await assert.rejects(unreachable.createOrder(1_000_000n, 'USD', 'topup:u1:gone00001'), {
    kind: 'network',
    message: /^Could not reach PayPal at/,
  });
});

test('webhook verification: genuine deliveries pass; changed bodies, missing headers and other webhook IDs do not', async (t) => {
  const { standIn, client } = await createPayPal(t);
  const order = await client.createOrder(2_500_000n, 'USD', 'topup:u1:webhook01');
  standIn.approve(order.orderId);
  await client.captureOrder(order.orderId);
  const sent = standIn.webhooks.find((w) => w.eventType === 'PAYMENT.CAPTURE.COMPLETED')!;

  assert.equal(await client.verifyWebhook(sent.headers, sent.body, 'WEBHOOK1'), true);
  assert.equal(await client.verifyWebhook(new Headers(sent.headers), Buffer.from(sent.body), 'WEBHOOK1'), true);
  const upperCase = Object.fromEntries(Object.entries(sent.headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.equal(await client.verifyWebhook(upperCase, sent.body, 'WEBHOOK1'), true);

  assert.equal(await client.verifyWebhook(sent.headers, sent.body.replace('"2.50"', '"250.00"'), 'WEBHOOK1'), false);
  assert.equal(await client.verifyWebhook({ ...sent.headers, 'paypal-transmission-id': 'other-id' }, sent.body, 'WEBHOOK1'), false);
  assert.equal(await client.verifyWebhook(sent.headers, sent.body, 'ANOTHERWEBHOOK'), false);
  const { 'paypal-transmission-sig': _, ...unsigned } = sent.headers;
  assert.equal(await client.verifyWebhook(unsigned, sent.body, 'WEBHOOK1'), false);
  assert.equal(await client.verifyWebhook(sent.headers, 'not json', 'WEBHOOK1'), false);
});
