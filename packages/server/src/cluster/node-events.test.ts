import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AgentEvent } from '@p2pvps/protocol/agent-schemas';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { nodeEvents, type NodeEvents } from './node-events.ts';

/** Two nodes' buses on one real PostgreSQL: what one publishes, a subscriber on the other hears, once. */
let pg: TestPostgres;
let a: NodeEvents;
let b: NodeEvents;

before(async () => {
  pg = await startTestPostgres();
  a = await nodeEvents(pg.url, () => {});
  b = await nodeEvents(pg.url, () => {});
});

after(async () => {
  await a?.close();
  await b?.close();
  await pg?.stop();
});

function collect<E>(subscribe: (l: (e: E) => void) => () => void): E[] {
  const seen: E[] = [];
  subscribe((e) => seen.push(e));
  return seen;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(ok(), what);
}

test("an agent's nudge, a page's update and a device's change cross between nodes, each heard once", async () => {
  const nudgesOnB = collect<AgentEvent>((l) => b.devices.subscribe('dev1', l));
  const updatesOnB = collect<string>((l) => b.users.subscribe('user1', l));
  const changesOnA = collect<string>((l) => a.changes.subscribe('devices', l));
  const changesOnB = collect<string>((l) => b.changes.subscribe('devices', l));
  const otherDevice = collect<AgentEvent>((l) => b.devices.subscribe('dev2', l));

  a.devices.publish('dev1', { type: 'sync', reason: 'rental_requested' });
  a.users.publish('user1', 'changed');
  a.changes.publish('devices', 'dev1');
  await until('all arrived', () => nudgesOnB.length > 0 && updatesOnB.length > 0 && changesOnB.length > 0);
  await new Promise((r) => setTimeout(r, 300)); // time for any duplicate to arrive

  assert.deepEqual(nudgesOnB, [{ type: 'sync', reason: 'rental_requested' }]);
  assert.deepEqual(updatesOnB, ['changed']);
  assert.deepEqual(changesOnB, ['dev1']);
  assert.deepEqual(changesOnA, ['dev1'], 'the publishing node hears its own change once');
  assert.deepEqual(otherDevice, [], "another device's agent hears nothing");
});

test('on SQLite the buses are the process’s own', async () => {
  const local = await nodeEvents('sqlite::memory:', () => {});
  const heard = collect<AgentEvent>((l) => local.devices.subscribe('dev1', l));
  local.devices.publish('dev1', { type: 'sync', reason: 'x' });
  assert.deepEqual(heard, [{ type: 'sync', reason: 'x' }]);
  await local.close();
});
