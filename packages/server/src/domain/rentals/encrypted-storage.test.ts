import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTestContext } from '../test-context.ts';
import { testDialect } from '../../testing/test-database.ts';
import { syncDevice } from './agent-sync.ts';
import { getRental, rent, stopRental } from './rentals.ts';
import { unlockRental } from './encrypted-storage.ts';
import { listDevices } from '../devices/devices.ts';

/** Every row of every table, as text: where a secret written to the database would show. */
async function wholeDatabase(t: Awaited<ReturnType<typeof createTestContext>>): Promise<string> {
  const tables = await t.ctx.db.introspection.getTables();
  const rows = await Promise.all(
    tables.map((tb) =>
      t.ctx.db
        .selectFrom(tb.name as never)
        .selectAll()
        .execute(),
    ),
  );
  return JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

/** The SQLite file and its journal, read raw; on PostgreSQL the table scan stands for it. */
function databaseFiles(dir: string | undefined): Buffer[] {
  if (!dir) return [];
  return ['p2pvps.db', 'p2pvps.db-wal', 'p2pvps.db-journal']
    .map((f) => join(dir, f))
    .filter(existsSync)
    .map((f) => readFileSync(f));
}

test('the renter’s secret goes to the device in memory only, until the device says the storage is unlocked; never into the database', async () => {
  const dir = testDialect() === 'sqlite' ? mkdtempSync(join(tmpdir(), 'p2pvps-crypt-db-')) : undefined;
  const t = await createTestContext([20000, 20009], dir ? `sqlite:${join(dir, 'p2pvps.db')}` : undefined);
  try {
    const { renter, owner, deviceId } = await t.createMarket();
    const secret = `my storage secret ${randomBytes(8).toString('hex')}`;
    const rental = await rent(t.ctx, renter.id, { deviceId, encryptionKey: secret });
    assert.equal(rental.encrypted, true);
    const nudge = t.nudges.at(-1);
    assert.equal(nudge?.reason, 'rental_requested');
    assert.equal(nudge?.rental, undefined, 'no rental in the nudge: its secret would pass through the event bus');

    const first = await syncDevice(t.ctx, deviceId, { container: null });
    assert.deepEqual(first.rental?.encryption, { key: secret }, 'the device gets the secret with the rental');
    const ready = await syncDevice(t.ctx, deviceId, {
      container: { rentalId: rental.id, state: 'ready' },
      storageLock: { rentalId: rental.id, locked: false },
    });
    assert.deepEqual(ready.rental?.encryption, {}, 'unlocked: the server has let go of the secret');
    assert.equal((await getRental(t.ctx, renter.id, rental.id)).state, 'active');

    // The device restarted: locked, and both the owner and the renter see it.
    await syncDevice(t.ctx, deviceId, {
      container: { rentalId: rental.id, state: 'starting' },
      storageLock: { rentalId: rental.id, locked: true },
    });
    const [device] = await listDevices(t.ctx, owner.id);
    assert.match(device?.storageLocked ?? '', /locked: it waits for the renter’s key/);
    assert.match((await getRental(t.ctx, renter.id, rental.id)).storageLocked ?? '', /locked/);
    assert.equal((await getRental(t.ctx, renter.id, rental.id)).state, 'active', 'locked is not ended');

    // A wrong secret: the device says so, the server drops it and shows why.
    await unlockRental(t.ctx, renter.id, rental.id, 'not the right secret');
    assert.equal(t.nudges.at(-1)?.reason, 'storage_unlock', 'the agent is told at once');
    const wrong = await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'starting' } });
    assert.deepEqual(wrong.rental?.encryption, { key: 'not the right secret' });
    const detail = 'The secret sent does not open this rental’s storage.';
    const dropped = await syncDevice(t.ctx, deviceId, {
      container: { rentalId: rental.id, state: 'starting' },
      storageLock: { rentalId: rental.id, locked: true, detail },
    });
    assert.deepEqual(dropped.rental?.encryption, {});
    assert.equal((await getRental(t.ctx, renter.id, rental.id)).storageLocked, detail);

    await unlockRental(t.ctx, renter.id, rental.id, secret);
    // The device's next heartbeat still says the last secret was wrong: the new one is not dropped for it.
    const stale = await syncDevice(t.ctx, deviceId, {
      container: { rentalId: rental.id, state: 'starting' },
      storageLock: { rentalId: rental.id, locked: true, detail },
    });
    assert.deepEqual(stale.rental?.encryption, { key: secret });
    await syncDevice(t.ctx, deviceId, {
      container: { rentalId: rental.id, state: 'ready' },
      storageLock: { rentalId: rental.id, locked: false },
    });
    assert.equal((await getRental(t.ctx, renter.id, rental.id)).storageLocked, null, 'unlocked again');

    // Nothing of the secret in any row, nor in the database file.
    for (const s of [secret, 'not the right secret']) {
      assert.equal((await wholeDatabase(t)).includes(s), false, 'no table holds the secret');
      assert.equal(
        databaseFiles(dir).some((f) => f.includes(Buffer.from(s))),
        false,
        'nor does the database file',
      );
    }
    assert.ok((await wholeDatabase(t)).includes(rental.id), 'the scan does see the rental (a test that can fail)');

    // A secret is held only minutes when no device picks it up.
    await unlockRental(t.ctx, renter.id, rental.id, secret);
    t.clock.advance(t.ctx.storageSecrets!.ttlMs + 1);
    assert.deepEqual((await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } })).rental?.encryption, {});

    await stopRental(t.ctx, renter.id, rental.id);
    await assert.rejects(unlockRental(t.ctx, renter.id, rental.id, secret), { code: 'rental_not_open' });
  } finally {
    await t.close();
  }
});

test('a rental without encryption has nothing to unlock, and its device is told of none', async () => {
  const t = await createTestContext();
  try {
    const { renter, rental, deviceId } = await t.createRunningRental();
    await assert.rejects(unlockRental(t.ctx, renter.id, rental.id, 'some secret here'), { code: 'rental_not_encrypted' });
    const reply = await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
    assert.equal(reply.rental?.encryption, undefined);
    assert.equal((await getRental(t.ctx, renter.id, rental.id)).encrypted, false);
  } finally {
    await t.close();
  }
});
