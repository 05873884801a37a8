import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { maxNudgeBytes } from '@p2pvps/protocol/tunnel-ssh';
import { readNudges } from './tunnel-nudges.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('nudges are read line by line, however the channel splits them; what is not a nudge is skipped', async () => {
  const channel = new PassThrough();
  const seen: AgentEvent[] = [];
  readNudges(channel, (e) => seen.push(e));
  channel.write('{"type":"sync","reas');
  channel.write('on":"rental_requested"}\n{"type":"sync","reason":"rental_ended"}\n');
  channel.write('not json\n{"type":"shutdown"}\n');
  channel.write(
    `${JSON.stringify({ type: 'sync', reason: 'rental_requested', rental: { rentalId: 'r1' }, at: new Date().toISOString() })}\n`,
  );
  await tick();
  assert.deepEqual(
    seen.map((e) => e.reason),
    ['rental_requested', 'rental_ended'],
    'a rental that does not parse is not taken, nor is the nudge it came with',
  );
});

test('a line longer than any nudge ends the channel: the server cannot make the agent hold more', async () => {
  const channel = new PassThrough();
  let closed = false;
  readNudges(Object.assign(channel, { close: () => (closed = true) }), () => assert.fail('no nudge'));
  channel.write('x'.repeat(maxNudgeBytes + 1));
  await tick();
  assert.equal(closed, true);
  assert.equal(channel.destroyed, true);
});
