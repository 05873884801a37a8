import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceOf } from '../client-source.ts';
import { SourcePenalties, type PenaltyPolicy } from './source-penalties.ts';

const policy: PenaltyPolicy = {
  authfailMs: 5_000,
  noauthMs: 1_000,
  graceExceededMs: 10_000,
  minMs: 15_000,
  maxMs: 600_000,
  maxSources: 100,
};

function withClock(p: PenaltyPolicy = policy) {
  const clock = { now: 1_000_000 };
  return { clock, penalties: new SourcePenalties(p, () => clock.now) };
}

test('penalties add up; a source is refused once they reach min, and only then', () => {
  const { penalties } = withClock();
  penalties.penalise('a', 'authfail');
  penalties.penalise('a', 'authfail');
  assert.equal(penalties.refuses('a'), false, '10 s of penalty is under min (15 s)');
  penalties.penalise('a', 'authfail');
  assert.equal(penalties.refuses('a'), true);
  assert.equal(penalties.refuses('b'), false, 'other sources are not affected');
});

test('the refusal lasts min the first time and doubles each time after, up to max', () => {
  const { clock, penalties } = withClock();
  const refusedFor = () => {
    penalties.penalise('a', 'grace-exceeded');
    penalties.penalise('a', 'grace-exceeded');
    let ms = 0;
    while (penalties.refuses('a')) {
      clock.now += 1_000;
      ms += 1_000;
    }
    return ms;
  };
  assert.deepEqual([refusedFor(), refusedFor(), refusedFor(), refusedFor()], [15_000, 30_000, 60_000, 120_000]);
  for (let i = 0; i < 4; i++) refusedFor();
  assert.equal(refusedFor(), 600_000, 'capped at max');
});

test('offences while refused do not lengthen the refusal (connections already open when it began)', () => {
  const { clock, penalties } = withClock();
  for (let i = 0; i < 3; i++) penalties.penalise('a', 'authfail');
  for (let i = 0; i < 50; i++) penalties.penalise('a', 'grace-exceeded');
  clock.now += 15_000;
  assert.equal(penalties.refuses('a'), false);
});

test('a source is forgotten max after its last offence: old scores do not add up', () => {
  const { clock, penalties } = withClock();
  penalties.penalise('a', 'grace-exceeded');
  clock.now += 600_000;
  penalties.penalise('a', 'authfail');
  assert.equal(penalties.refuses('a'), false, 'the earlier 10 s were forgotten');
  assert.equal(penalties.size, 1);
});

test('scanners (noauth) need many connections to be refused', () => {
  const { penalties } = withClock();
  for (let i = 0; i < 14; i++) penalties.penalise('scanner', 'noauth');
  assert.equal(penalties.refuses('scanner'), false);
  penalties.penalise('scanner', 'noauth');
  assert.equal(penalties.refuses('scanner'), true);
});

test('memory is bounded: past maxSources, the source that offended longest ago is forgotten', () => {
  const { penalties } = withClock({ ...policy, maxSources: 3 });
  for (const s of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) penalties.penalise(s, 'authfail');
  penalties.penalise('a', 'noauth'); // a is refused: this does not touch it
  penalties.penalise('d', 'authfail');
  assert.equal(penalties.size, 3);
  assert.equal(penalties.refuses('a'), false, 'a, the oldest, was forgotten');
  assert.equal(penalties.refuses('b'), true);
  assert.equal(penalties.refuses('c'), true);
});

test('sources: IPv4 by address (also IPv4-mapped), IPv6 by /64', () => {
  assert.equal(sourceOf('127.0.0.2'), '127.0.0.2');
  assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(sourceOf('2001:db8:1:2:3:4:5:6'), sourceOf('2001:db8:1:2::9'));
  assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'));
  assert.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64');
});
