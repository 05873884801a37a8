import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerBody, DisputeBody, RateBody, ResolveDisputeBody, reviewLimits } from './review-schemas.ts';

const problems = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  r.success ? [] : r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

test('a rating is 1 to 5 whole stars and a comment of at most 500 characters, trimmed', () => {
  assert.deepEqual(RateBody.parse({ stars: 5 }), { stars: 5, comment: '' });
  assert.deepEqual(RateBody.parse({ stars: 3, comment: '  fine \n really  ' }), { stars: 3, comment: 'fine \n really' });
  for (const stars of [0, 6, 2.5]) assert.notDeepEqual(problems(RateBody.safeParse({ stars })), []);
  assert.deepEqual(problems(RateBody.safeParse({ stars: 4, comment: 'x'.repeat(reviewLimits.comment + 1) })), [
    'comment: must be at most 500 characters',
  ]);
  assert.deepEqual(problems(RateBody.safeParse({ stars: 4, comment: 'x'.repeat(reviewLimits.comment) })), []);
});

test('written text refuses control characters (but a new line) and direction overrides', () => {
  for (const bad of [
    'bell\u0007',
    'esc\u001b[31mred',
    'cr\rlf',
    'nul\u0000',
    'del\u007f',
    'c1\u009b',
    'rlo\u202egnp.exe',
    'isolate\u2066x',
  ]) {
    assert.deepEqual(
      problems(RateBody.safeParse({ stars: 1, comment: bad })),
      ['comment: must not contain control characters (other than a new line) or direction overrides'],
      JSON.stringify(bad),
    );
  }
  assert.deepEqual(problems(AnswerBody.safeParse({ answer: 'tab\there' })).length, 1);
  assert.deepEqual(problems(DisputeBody.safeParse({ reason: 'line one\nline two, ünïcödé ✓' })), []);
});

test('an answer and a dispute reason must say something', () => {
  assert.deepEqual(problems(AnswerBody.safeParse({ answer: '   ' })), ['answer: must not be empty']);
  assert.deepEqual(problems(DisputeBody.safeParse({ reason: '' })), ['reason: must not be empty']);
  assert.deepEqual(problems(DisputeBody.safeParse({ reason: 'x'.repeat(1001) })), ['reason: must be at most 1000 characters']);
});

test('a decision is a refund of more than 0, or a rejection with a note', () => {
  assert.deepEqual(ResolveDisputeBody.parse({ outcome: 'refund', refundMicros: 5 }), { outcome: 'refund', refundMicros: 5, note: '' });
  assert.notDeepEqual(problems(ResolveDisputeBody.safeParse({ outcome: 'refund', refundMicros: 0 })), []);
  assert.notDeepEqual(problems(ResolveDisputeBody.safeParse({ outcome: 'reject' })), []);
  assert.notDeepEqual(problems(ResolveDisputeBody.safeParse({ outcome: 'reject', note: 'no', refundMicros: 3 })), []);
  assert.notDeepEqual(problems(ResolveDisputeBody.safeParse({ outcome: 'pay' })), []);
});
