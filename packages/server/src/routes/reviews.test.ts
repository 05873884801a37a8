import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { insertRental } from '../db/rentals-repo.ts';
import { ManualClock } from '../domain/clock.ts';
import { post } from '../domain/money/ledger.ts';
import { newId } from '../domain/secrets.ts';
import type { RunningServer } from '../services/server.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * Who may rate, answer, dispute and resolve, through the API: a caller who may not act on
 * a rental, rating or dispute is told it does not exist (404), and a non-operator does not
 * learn that the operator's routes exist. Rentals are written straight into the database:
 * what is tested is the API's checks, not renting.
 */
let testServer: TestServer;
let server: RunningServer;
const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
let api: ApiClient;
let operator: ApiClient;

const signup = async (email: string) => {
  const s = await api.call('signup', { body: { email, password: 'correct horse battery' } });
  return { id: s.user.id, api: api.withToken(s.token) };
};

before(async () => {
  testServer = await startTestServer('reviews', {}, { clock });
  server = testServer.server;
  api = new ApiClient({ baseUrl: server.apiUrl });
  const password = readFileSync(join(testServer.dataDir, 'operator-password'), 'utf8').trim();
  operator = api.withToken((await api.call('login', { body: { email: 'admin@localhost', password } })).token);
});

after(async () => {
  await testServer?.stop();
});

/** An owner's device and a renter's ended rental of it that ran an hour and was paid 0.10. */
async function endedRental(tag: string) {
  const owner = await signup(`owner-${tag}@example.org`);
  const renter = await signup(`renter-${tag}@example.org`);
  const grant = await owner.api.call('addDevice', { body: { name: `pi-${tag}` } });
  const id = newId();
  const start = clock.now().getTime();
  const iso = (ms: number) => new Date(start + ms).toISOString();
  await insertRental(server.ctx.db, {
    id,
    device_id: grant.device.id,
    device_name: `pi-${tag}`,
    renter_id: renter.id,
    state: 'ended',
    end_reason: 'renter_stopped',
    detail: null,
    username: 'u',
    password_sealed: '',
    password_crypt: '',
    auto_renew: 0,
    term_hours: null,
    ssh_public_key: null,
    hours: null,
    open_device_id: null,
    created_at: iso(0),
    activated_at: iso(1000),
    expires_at: null,
    ended_at: iso(3_600_000),
    bytes_in: 0,
    bytes_out: 0,
    billed_minutes: 60,
    charged_micros: 100_000,
    fee_micros: 10_000,
    billed_until: iso(3_601_000),
    price_per_hour_micros: 100_000,
    fee_bps: 1000,
    balance_exhausted_at: null,
    offline_since: null,
    balance_low_at: null,
  });
  await post(server.ctx.db, {
    kind: 'rental_charge',
    memo: 'test charge',
    at: iso(3_600_000),
    rentalId: id,
    postings: [
      { kind: 'rail_clearing', rail: 'operator', amount: -100_000n },
      { kind: 'owner_earnings', userId: owner.id, amount: 90_000n },
      { kind: 'marketplace_fees', amount: 10_000n },
    ],
  });
  return { owner, renter, deviceId: grant.device.id, rentalId: id };
}

const refused = (code: string, status: number) => (e: unknown) => e instanceof ApiError && e.code === code && e.status === status;

test('only the renter rates a rental, once; the owner answers once; anyone reads them', async () => {
  const { owner, renter, deviceId, rentalId } = await endedRental('a');
  const stranger = await signup('stranger-a@example.org');
  const rate = { params: { rentalId }, body: { stars: 4, comment: 'Did the job.' } };
  await assert.rejects(stranger.api.call('rateRental', rate), refused('not_found', 404));
  await assert.rejects(owner.api.call('rateRental', rate), refused('not_found', 404));
  await assert.rejects(api.call('rateRental', rate), refused('unauthenticated', 401));
  const review = await renter.api.call('rateRental', rate);
  await assert.rejects(renter.api.call('rateRental', rate), refused('already_rated', 409));

  const answer = { params: { reviewId: review.id }, body: { answer: 'Thanks!' } };
  await assert.rejects(renter.api.call('answerReview', answer), refused('not_found', 404));
  await assert.rejects(stranger.api.call('answerReview', answer), refused('not_found', 404));
  assert.equal((await owner.api.call('answerReview', answer)).answer, 'Thanks!');
  await assert.rejects(owner.api.call('answerReview', answer), refused('already_answered', 409));

  const page = await api.call('deviceReviews', { params: { deviceId } });
  assert.deepEqual(page.rating, { count: 1, average: 4 });
  assert.deepEqual(
    page.reviews.map((r) => [r.stars, r.comment, r.answer]),
    [[4, 'Did the job.', 'Thanks!']],
  );
  await assert.rejects(stranger.api.call('rentalFeedback', { params: { rentalId } }), refused('not_found', 404));
  const feedback = await renter.api.call('rentalFeedback', { params: { rentalId } });
  assert.equal(feedback.review?.id, review.id);
  assert.equal(feedback.dispute, null);
});

test('a comment with a control character or over 500 characters is refused with the field named, and nothing is saved', async () => {
  const { renter, deviceId, rentalId } = await endedRental('b');
  for (const comment of ['\u001b[2J cleared your screen', 'x'.repeat(501)]) {
    await assert.rejects(renter.api.call('rateRental', { params: { rentalId }, body: { stars: 5, comment } }), (e: unknown) => {
      return e instanceof ApiError && e.code === 'invalid_request' && e.fields?.['body.comment'] !== undefined;
    });
  }
  assert.equal((await api.call('deviceReviews', { params: { deviceId } })).rating.count, 0);
});

test('only the renter disputes; only the operator sees and resolves disputes; the renter sees the outcome', async () => {
  const { owner, renter, rentalId } = await endedRental('c');
  const stranger = await signup('stranger-c@example.org');
  const body = { reason: 'It was offline most of the hour.' };
  await assert.rejects(stranger.api.call('openDispute', { params: { rentalId }, body }), refused('not_found', 404));
  await assert.rejects(owner.api.call('openDispute', { params: { rentalId }, body }), refused('not_found', 404));
  const dispute = await renter.api.call('openDispute', { params: { rentalId }, body });
  await assert.rejects(renter.api.call('openDispute', { params: { rentalId }, body }), refused('dispute_exists', 409));

  const refund = { params: { disputeId: dispute.id }, body: { outcome: 'refund' as const, refundMicros: 50_000 } };
  for (const caller of [renter, owner, stranger]) {
    await assert.rejects(caller.api.call('adminResolveDispute', refund), refused('not_found', 404));
    await assert.rejects(caller.api.call('adminDisputes'), refused('not_found', 404));
    await assert.rejects(caller.api.call('adminDispute', { params: { disputeId: dispute.id } }), refused('not_found', 404));
  }
  assert.equal((await renter.api.call('listDisputes')).disputes[0]?.state, 'open', 'nothing changed');

  const open = await operator.call('adminDisputes', { query: { state: 'open' } });
  assert.ok(open.disputes.some((d) => d.id === dispute.id && d.rental.paidMicros === 100_000 && d.renterEmail === 'renter-c@example.org'));
  await assert.rejects(
    operator.call('adminResolveDispute', { ...refund, body: { outcome: 'refund', refundMicros: 100_001 } }),
    refused('refund_exceeds_paid', 409),
  );
  const before = await renter.api.call('getBalance');
  const resolved = await operator.call('adminResolveDispute', refund);
  assert.equal(resolved.state, 'refunded');
  assert.equal((await renter.api.call('getBalance')).balanceMicros, before.balanceMicros + 50_000);
  assert.equal((await owner.api.call('getBalance')).earningsMicros, 90_000 - 45_000);
  const ledger = await operator.call('adminLedger');
  assert.equal(ledger.totalMicros, 0);
  const seen = (await renter.api.call('listDisputes')).disputes[0];
  assert.equal(seen?.state, 'refunded');
  assert.equal(seen?.refundMicros, 50_000);
  await assert.rejects(operator.call('adminResolveDispute', refund), refused('dispute_not_open', 409));
});

test('the OpenAPI document describes the rating and dispute routes', async () => {
  const doc = (await (await fetch(`${server.apiUrl}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const paths = Object.keys(doc.paths).filter((p) => /rating|reviews|dispute/.test(p));
  assert.equal(paths.length, 8, paths.join(', '));
  const resolve = Object.entries(doc.paths).find(([p]) => p.endsWith('/resolve'))?.[1];
  assert.ok(resolve?.post, 'the operator resolves with POST');
});
