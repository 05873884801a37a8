import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { findDevice } from '../../db/devices-repo.ts';
import { DomainError } from '../errors.ts';
import { createTestContext } from '../test-context.ts';
import {
  addDevice,
  getDevice,
  listDevices,
  reclaimUnenrolledDevices,
  registerDevice,
  reissueEnrolmentToken,
  removeDevice,
} from './devices.ts';

const hardware = { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 << 30, diskBytes: 32 << 30, arch: 'arm64' };
const gateway = { host: 'h', port: 1, hostKey: 'k' };
const body = (token: string) => ({ enrolmentToken: token, publicKey: generateEd25519KeyPair('d').public, hardware, agentVersion: 't' });

/**
 * Adding devices costs the marketplace nothing: a device gets its public SSH port when it
 * enrols, an owner may have only a few awaiting enrolment, and those never enrolled are
 * deleted once their token expires. (Before, every add took a port for good: 1,000 adds
 * used up the range for everyone.)
 */
test('a device added holds no port until it enrols, then gets one', async () => {
  const t = await createTestContext([20000, 20001]);
  const owner = await t.createUser('owner');
  const grant = await addDevice(t.ctx, owner.id, 'pi', '');
  assert.equal(grant.device.sshPort, null);
  assert.equal(grant.device.status, 'awaiting_enrolment');
  assert.equal((await getDevice(t.ctx, owner.id, grant.device.id)).sshPort, null);
  const reg = await registerDevice(t.ctx, body(grant.enrolmentToken), gateway);
  assert.equal(reg.sshPort, 20000);
  assert.equal((await getDevice(t.ctx, owner.id, grant.device.id)).sshPort, 20000);
  // Re-enrolling keeps the port it has.
  const again = await reissueEnrolmentToken(t.ctx, owner.id, grant.device.id);
  assert.equal(again.device.sshPort, 20000);
  assert.equal((await registerDevice(t.ctx, body(again.enrolmentToken), gateway)).sshPort, 20000);
  await t.close();
});

test('adding devices does not use up the port range: many owners may add while it is full', async () => {
  const t = await createTestContext([20000, 20000]);
  const a = await t.createUser('a');
  const b = await t.createUser('b');
  for (let i = 0; i < 5; i++) await addDevice(t.ctx, a.id, `a${i}`, '');
  const grant = await addDevice(t.ctx, b.id, 'b-pi', '');
  assert.equal((await registerDevice(t.ctx, body(grant.enrolmentToken), gateway)).sshPort, 20000);
  await t.close();
});

test('an owner may have five devices awaiting enrolment; the sixth is refused until one enrols or is removed', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const grants = await Promise.all(Array.from({ length: 5 }, (_, i) => addDevice(t.ctx, owner.id, `pi${i}`, '')));
  await assert.rejects(addDevice(t.ctx, owner.id, 'sixth', ''), (e: DomainError) => {
    assert.equal(e.code, 'too_many_pending_devices');
    assert.match(e.message, /You have 5 devices awaiting enrolment/);
    return true;
  });
  // Parallel adds cannot slip past the cap either.
  const other = await t.createUser('other');
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => addDevice(t.ctx, other.id, `o${i}`, '')));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
  await registerDevice(t.ctx, body(grants[0]!.enrolmentToken), gateway);
  await addDevice(t.ctx, owner.id, 'sixth', '');
  await removeDevice(t.ctx, owner.id, grants[1]!.device.id);
  await addDevice(t.ctx, owner.id, 'seventh', '');
  await assert.rejects(addDevice(t.ctx, owner.id, 'eighth', ''), (e: DomainError) => e.code === 'too_many_pending_devices');
  t.ctx.settings.maxPendingDevices = 6;
  await addDevice(t.ctx, owner.id, 'eighth', '');
  await t.close();
});

test('devices never enrolled are deleted once their token expires; enrolled ones and live tokens stay', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const stale = await addDevice(t.ctx, owner.id, 'stale', '');
  const enrolled = await addDevice(t.ctx, owner.id, 'enrolled', '');
  await registerDevice(t.ctx, body(enrolled.enrolmentToken), gateway);
  const reenrolling = await reissueEnrolmentToken(t.ctx, owner.id, enrolled.device.id);
  t.clock.advance(23 * 3_600_000);
  const fresh = await addDevice(t.ctx, owner.id, 'fresh', '');
  assert.equal(await reclaimUnenrolledDevices(t.ctx), 0);
  t.clock.advance(1 * 3_600_000 + 1);
  assert.equal(await reclaimUnenrolledDevices(t.ctx), 1);
  assert.equal(await findDevice(t.ctx.db, stale.device.id), undefined);
  assert.equal(
    await t.ctx.db.selectFrom('enrolment_tokens').selectAll().where('device_id', '=', stale.device.id).executeTakeFirst(),
    undefined,
  );
  assert.deepEqual((await listDevices(t.ctx, owner.id)).map((d) => d.name).sort(), ['enrolled', 'fresh']);
  // An enrolled device whose re-enrolment token expired keeps its port and its history.
  assert.ok(reenrolling.device.sshPort);
  assert.equal((await findDevice(t.ctx.db, enrolled.device.id))?.ssh_port, reenrolling.device.sshPort);
  await assert.rejects(
    registerDevice(t.ctx, body(stale.enrolmentToken), gateway),
    (e: DomainError) => e.code === 'enrolment_token_invalid',
  );
  await registerDevice(t.ctx, body(fresh.enrolmentToken), gateway);
  await t.close();
});
