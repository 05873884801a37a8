import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertPeer, type PeerRow } from '../db/federation-repo.ts';
import { insertRemoteRental } from '../db/federation-rentals-repo.ts';
import type { DomainError } from '../domain/errors.ts';
import { createTestContext } from '../domain/test-context.ts';
import { FederationClient } from './federation-client.ts';
import { RemoteRentals } from './remote-rentals.ts';
import { ServerIdentity } from './server-key.ts';

/**
 * The renter's server A and `moved` (docs/federation.md, "The join"): a rental of B's is
 * served by a backup for now. A takes the move only from a backup B's signed listing named
 * when the rental was made, shows its address, and puts B's back when B itself says so.
 */
test('A shows the address of a backup B named; a peer B did not name is refused; B puts its own address back', async () => {
  const t = await createTestContext();
  const now = t.clock.now().toISOString();
  const peer = (name: string): PeerRow => ({
    id: `peer${name.repeat(4)}`,
    url: `http://${name}.test`,
    name,
    fingerprint: `SHA256:${name}`,
    public_key: 'unused',
    state: 'active',
    fee_bps: 1000,
    linked_at: now,
    updated_at: now,
    last_sync_at: null,
    last_error: null,
  });
  const [b, c, d] = [peer('b'), peer('c'), peer('d')];
  for (const p of [b, c, d]) await insertPeer(t.ctx.db, p);
  const renter = await t.createUser('renter', 1_000_000n);
  await insertRemoteRental(t.ctx.db, {
    id: 'remoterental1',
    renter_id: renter.id,
    peer_id: b.id,
    remote_rental_id: 'rentalonbbbb1',
    device_id: 'devicebbbb1',
    device_name: 'pi',
    state: 'active',
    end_reason: null,
    detail: null,
    price_per_hour_micros: 60_000n,
    fee_bps: 500,
    hours: null,
    username: 'r_1',
    password_sealed: '',
    ssh_public_key: null,
    ssh_host: 'b.test',
    ssh_port: 2201,
    web_host: 'web1.b.test',
    http_url: 'http://web1.b.test/',
    https_url: 'https://web1.b.test/',
    offer_json: '{}',
    state_seq: 1,
    billed_minutes: 0,
    charged_micros: 0,
    guarantee_until: null,
    backups_json: JSON.stringify([c.url]),
    moved_json: null,
    end_requested: null,
    created_at: now,
    activated_at: now,
    ended_at: null,
  });
  const identity = new ServerIdentity(mkdtempSync(join(tmpdir(), 'p2pvps-moved-')), t.clock);
  const remote = new RemoteRentals({
    ctx: t.ctx,
    client: new FederationClient({
      identity,
      ownUrl: 'http://a.test',
      clock: t.clock,
      fetch: (() => Promise.reject(new Error('offline'))) as typeof fetch,
    }),
    signer: () => ({ url: 'http://a.test', keyId: identity.key.id, sign: (x: Buffer) => identity.sign(x) }),
    feeBps: 500,
    guaranteeMs: 3_600_000,
  });
  const move = (over: object = {}) => ({
    home: b.url,
    deviceId: 'devicebbbb1',
    ssh: { host: 'c.test', port: 2399 },
    webHost: 'web1.c.test',
    httpUrl: 'http://web1.c.test/',
    at: now,
    ...over,
  });
  const shown = async () => (await remote.get(renter.id, 'remoterental1'))!.connection;

  await assert.rejects(remote.receiveMoved(d, 'rentalonbbbb1', move()), (err: DomainError) => err.code === 'federation_not_backup');
  await assert.rejects(
    remote.receiveMoved(c, 'rentalonbbbb1', move({ deviceId: 'otherdevice1' })),
    (err: DomainError) => err.code === 'not_found',
  );
  await assert.rejects(remote.receiveMoved(c, 'rentalofnobody', move()), (err: DomainError) => err.code === 'not_found');
  assert.equal((await shown()).port, 2201, 'refused moves change nothing');

  await remote.receiveMoved(c, 'rentalonbbbb1', move());
  assert.deepEqual(
    { ...(await shown()), password: undefined },
    {
      host: 'c.test',
      port: 2399,
      username: 'r_1',
      password: undefined,
      sshKeyGiven: false,
      sshCommand: 'ssh -p 2399 r_1@c.test',
      webHost: 'web1.c.test',
      httpUrl: 'http://web1.c.test/',
      httpsUrl: '',
    },
  );

  await remote.receiveMoved(b, 'rentalonbbbb1', move({ ssh: { host: 'b.test', port: 2201 } }));
  const back = await shown();
  assert.equal(back.port, 2201);
  assert.equal(back.host, 'b.test');
  assert.equal(back.httpsUrl, 'https://web1.b.test/');
});
