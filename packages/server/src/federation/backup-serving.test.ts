import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupDevice } from '@p2pvps/protocol/federation-backup-schemas';
import { migrateToLatest, openDatabase, type Db } from '../db/database.ts';
import { insertPeer, type PeerRow } from '../db/federation-repo.ts';
import { listService } from '../db/federation-backups-repo.ts';
import { ManualClock } from '../domain/clock.ts';
import type { DomainError } from '../domain/errors.ts';
import { createTestDatabase, type TestDatabase } from '../testing/test-database.ts';
import { BackupServing } from './backup-serving.ts';
import type { FederationClient } from './federation-client.ts';

/**
 * C, backing up B: it takes B's snapshots only once its operator allowed it, gives each
 * device a public port of its own, admits through its gateway only devices B's last
 * snapshot names (with their own key), and meters the stretches it serves their rentals.
 */
const clock = new ManualClock(new Date('2026-12-07T05:00:00Z'));
let database: TestDatabase;
let db: Db;
let serving: BackupServing;
const changed: string[] = [];

function peer(id: string, url: string): PeerRow {
  const now = clock.now().toISOString();
  return {
    id,
    url,
    name: id,
    fingerprint: `SHA256:${id.padEnd(43, 'A')}`,
    public_key: 'A'.repeat(43),
    state: 'active',
    fee_bps: 0,
    linked_at: now,
    updated_at: now,
    last_sync_at: null,
    last_error: null,
  };
}
const peerB = peer('peerbbbb', 'https://b.example');
const peerA = peer('peeraaaa', 'https://a.example');

const device = (id: string, rental: BackupDevice['rental'] = null): BackupDevice => ({
  deviceId: id,
  agentPublicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${id}`,
  webName: `name-${id}`,
  rental,
});
const rental = (expiresAt: string | null): NonNullable<BackupDevice['rental']> => ({
  rentalId: 'ren1',
  username: 'u_1',
  passwordCrypt: `$6$salt$${'a'.repeat(86)}`,
  sshPublicKey: null,
  expiresAt,
  pricePerHourMicros: '60000',
  renterOrigin: null,
});
const refusal = async (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (err: DomainError) => err.code,
  );

before(async () => {
  database = await createTestDatabase('sqlite::memory:');
  db = openDatabase(database.url);
  await migrateToLatest(db);
  await insertPeer(db, peerB);
  await insertPeer(db, peerA);
  serving = new BackupServing({
    db,
    clock,
    client: {} as FederationClient,
    signer: () => ({ url: 'https://c.example', keyId: 'k', sign: () => Buffer.alloc(64) }),
    ownUrl: 'https://c.example',
    webDomain: 'c.example',
    portRange: [20000, 20009],
    gateway: () => ({ host: 'c.example', port: 2222, hostKey: 'ssh-ed25519 AAAA' }),
    deviceChanged: (id) => changed.push(id),
    log: { warn() {} },
  });
});

after(async () => {
  await db.destroy();
  await database.drop();
});

test('without its operator agreeing, C refuses to back B up: no agreement, no snapshot', async () => {
  assert.equal(await refusal(serving.answerRequest(peerB, { maxDevices: 10 })), 'federation_not_backup');
  assert.equal(await refusal(serving.receiveSnapshot(peerB, { devices: [device('d1')] })), 'federation_not_backup');
  assert.equal(await serving.tunnelPolicy('d1'), null);
});

test("once allowed, B's snapshot gives each device a port of C's own, from the top, kept across snapshots", async () => {
  await serving.allow(peerB.id, true);
  const agreement = await serving.answerRequest(peerB, { maxDevices: 10 });
  assert.equal(agreement.home, peerB.url);
  assert.equal(agreement.backupFeeBps, 1000);
  const first = await serving.receiveSnapshot(peerB, { devices: [device('d1'), device('d2')] });
  assert.deepEqual(
    first.devices.map((d) => [d.deviceId, d.sshPort, d.webHost]),
    [
      ['d1', 20009, 'name-d1.c.example'],
      ['d2', 20008, 'name-d2.c.example'],
    ],
  );
  const again = await serving.receiveSnapshot(peerB, { devices: [device('d2'), device('d1', rental(null))] });
  assert.deepEqual(
    again.devices.map((d) => [d.deviceId, d.sshPort]),
    [
      ['d2', 20008],
      ['d1', 20009],
    ],
  );
  assert.ok(changed.includes('d1'), "d1's rental changed: its port is opened at once");
});

test("C's gateway admits only a device B's last snapshot names, with its own key; its public port opens only for a running rental", async () => {
  const d1 = await serving.tunnelPolicy('d1');
  assert.deepEqual(d1, { deviceId: 'd1', publicKey: device('d1').agentPublicKey, sshPort: 20009, publicPortOpen: true, rentalId: 'ren1' });
  assert.equal((await serving.tunnelPolicy('d2'))?.publicPortOpen, false);
  assert.equal(await serving.tunnelPolicy('never-named'), null);
  assert.deepEqual(await serving.webRoute('name-d1'), { deviceId: 'd1', rentalId: 'ren1' });
  assert.equal(await serving.webRoute('name-d2'), null, 'no running rental, no web route');
  await serving.receiveSnapshot(peerB, { devices: [device('d1', rental('2026-12-07T04:59:00.000Z'))] });
  assert.equal((await serving.tunnelPolicy('d1'))?.publicPortOpen, false, 'a rental past its end is not served');
  assert.equal(await serving.tunnelPolicy('d2'), null, 'a device dropped from the snapshot is no longer admitted');
});

test('another home cannot claim a device C backs up for B, and a malformed snapshot is refused whole', async () => {
  await serving.allow(peerA.id, true);
  const reply = await serving.receiveSnapshot(peerA, { devices: [device('d1'), device('a1')] });
  assert.deepEqual(
    reply.devices.map((d) => d.deviceId),
    ['a1'],
  );
  assert.equal((await serving.tunnelPolicy('d1'))?.publicKey, device('d1').agentPublicKey);
  assert.equal(
    await refusal(serving.receiveSnapshot(peerB, { devices: [{ ...device('d3'), agentPublicKey: 'ssh-rsa AAAA' }] })),
    'invalid_request',
  );
});

test('the stretch C serves a rental is metered from tunnel up to tunnel down, a started minute counted', async () => {
  await serving.receiveSnapshot(peerB, { devices: [device('d1', rental(null))] });
  await serving.tunnelChanged('d1', true);
  clock.advance(61_000);
  await serving.tunnelChanged('d1', false);
  const [s] = await listService(db);
  assert.equal(s?.rental_id, 'ren1');
  assert.equal(s?.minutes, 2);
  assert.equal(s?.handed_back_at, null);
  await serving.tunnelChanged('a1', true);
  assert.equal((await listService(db)).length, 1, 'a device without a running rental opens no stretch');
});

test('revoking the backup forgets the home devices at once', async () => {
  await serving.allow(peerB.id, false);
  assert.equal(await serving.tunnelPolicy('d1'), null);
  assert.equal(await refusal(serving.answerRequest(peerB, { maxDevices: 1 })), 'federation_not_backup');
});
