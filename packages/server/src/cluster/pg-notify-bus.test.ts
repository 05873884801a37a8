import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { PgNotifyBus } from './pg-notify-bus.ts';

/** Waits until `probe` holds, polling; fails with `what` if it never does. */
async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every message a bus's subscriber heard on a topic, in order. */
function record(bus: PgNotifyBus, topic: string): string[] {
  const heard: string[] = [];
  bus.subscribe(topic, (m) => heard.push(m));
  return heard;
}

describe('PgNotifyBus: events between nodes over a real PostgreSQL', () => {
  let postgres: TestPostgres;
  const buses: PgNotifyBus[] = [];
  const open = async (reconnects?: { count: number }) => {
    const bus = new PgNotifyBus({
      connectionString: postgres.url,
      channel: 'p2pvps_test_events',
      reconnectInitialMs: 50,
      reconnectMaxMs: 500,
      ...(reconnects ? { onReconnect: () => reconnects.count++ } : {}),
    });
    await bus.start();
    buses.push(bus);
    return bus;
  };

  before(async () => {
    postgres = await startTestPostgres();
  });
  after(async () => {
    for (const bus of buses) await bus.close();
    await postgres?.stop();
  });

  test("two nodes hear each other's events, and a node hears its own exactly once", async () => {
    const nodeA = await open();
    const nodeB = await open();
    const onA = record(nodeA, 'device:d1');
    const onB = record(nodeB, 'device:d1');
    const otherTopic = record(nodeB, 'device:d2');

    nodeA.publish('device:d1', 'rental started');
    nodeB.publish('device:d1', 'rental ended');
    await until('both nodes to hear both events', () => onA.length >= 2 && onB.length >= 2);
    // A marker published last, from each side: once it has arrived everywhere, any duplicate would have too.
    nodeA.publish('device:d1', 'marker a');
    nodeB.publish('device:d1', 'marker b');
    // PostgreSQL delivers notifications in commit order, so a duplicate of an earlier event would be here by now.
    await until('the markers', () => onA.includes('marker b') && onB.includes('marker a'));

    assert.deepEqual([...onA].sort(), ['marker a', 'marker b', 'rental ended', 'rental started']);
    assert.deepEqual([...onB].sort(), ['marker a', 'marker b', 'rental ended', 'rental started']);
    assert.deepEqual(otherTopic, [], 'a topic hears only its own events');
  });

  test('a bus whose connection is killed (pg_terminate_backend) reconnects, listens again and sends what waited', async () => {
    const reconnects = { count: 0 };
    const victim = await open(reconnects);
    const peer = await open();
    const onVictim = record(victim, 'user:u1');
    const onPeer = record(peer, 'user:u1');

    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'p2pvps-events-' || $1",
        [victim.busId],
      );
      assert.equal(killed.rowCount, 1, "the victim's listening connection was found and ended");
      await until('the victim to notice', () => !victim.up);
      // Published while it is down: its own subscribers hear it at once, the peer after the reconnect.
      victim.publish('user:u1', 'changed while down');
      assert.deepEqual(onVictim, ['changed while down']);

      await until('the victim to listen again', () => victim.up);
      assert.equal(reconnects.count, 1, 'onReconnect runs once per reconnect, so the node can nudge what it serves');
      await until('the peer to hear what was published while the victim was down', () => onPeer.includes('changed while down'));

      peer.publish('user:u1', 'after the reconnect');
      await until('the victim to hear the peer again', () => onVictim.includes('after the reconnect'));
      assert.deepEqual(onVictim, ['changed while down', 'after the reconnect']);
      assert.deepEqual(onPeer, ['changed while down', 'after the reconnect']);
    } finally {
      await admin.end();
    }
  });

  test('an event too big for NOTIFY is refused before anything is sent', async () => {
    const bus = await open();
    const heard = record(bus, 'device:big');
    assert.throws(() => bus.publish('device:big', 'x'.repeat(8000)), /less than 8000/);
    assert.deepEqual(heard, []);
  });

  test('a closed bus hears nothing more from the others', async () => {
    const closing = await open();
    const peer = await open();
    const witness = await open();
    const onClosing = record(closing, 'device:d3');
    const onWitness = record(witness, 'device:d3');
    await closing.close();
    await closing.close(); // idempotent
    peer.publish('device:d3', 'after close');
    await until('another node to hear it', () => onWitness.includes('after close'));
    assert.deepEqual(onClosing, []);
  });
});
