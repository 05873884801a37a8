import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { findDevice } from '../../db/devices-repo.ts';
import { DomainError } from '../errors.ts';
import { balanceOf } from '../money/ledger.ts';
import { meterTick } from '../rentals/meter-tick.ts';
import { syncDevice } from '../rentals/agent-sync.ts';
import { getRental, rent } from '../rentals/rentals.ts';
import { createTestContext } from '../test-context.ts';
import { addDevice, getDevice, registerDevice, reissueEnrolmentToken, removeDevice } from './devices.ts';
import { ledgerTotal } from '../../db/ledger-repo.ts';

const hardware = { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 << 30, diskBytes: 32 << 30, arch: 'arm64' };
const gateway = { host: 'h', port: 1, hostKey: 'k' };

test('concurrent enrolments get distinct ports from the range; a full range says so; removal frees the port', async () => {
  const t = await createTestContext([20000, 20004]);
  const owner = await t.createUser('owner');
  const enrol = async (name: string) => {
    const grant = await addDevice(t.ctx, owner.id, name, '');
    const body = { enrolmentToken: grant.enrolmentToken, publicKey: generateEd25519KeyPair(name).public, hardware, agentVersion: 't' };
    return { grant, body };
  };
  const pending = [];
  for (let i = 0; i < 5; i++) pending.push(await enrol(`pi${i}`));
  const regs = await Promise.all(pending.map((p) => registerDevice(t.ctx, p.body, gateway)));
  assert.deepEqual(regs.map((r) => r.sshPort).sort(), [20000, 20001, 20002, 20003, 20004]);
  const late = await enrol('one too many');
  await assert.rejects(registerDevice(t.ctx, late.body, gateway), (e: DomainError) => e.code === 'port_range_exhausted');
  await removeDevice(t.ctx, owner.id, regs.find((r) => r.sshPort === 20002)!.deviceId);
  // The token was not spent by the refused enrolment: the agent's retry succeeds once a port is free.
  assert.equal((await registerDevice(t.ctx, late.body, gateway)).sshPort, 20002);
  await t.close();
});

test('an enrolment token works once, before it expires, and binds the device key', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const grant = await addDevice(t.ctx, owner.id, 'pi', '');
  const key = generateEd25519KeyPair('d').public;
  const reg = await registerDevice(t.ctx, { enrolmentToken: grant.enrolmentToken, publicKey: key, hardware, agentVersion: 't' }, gateway);
  assert.equal(reg.deviceId, grant.device.id);
  assert.equal(reg.sshPort, (await findDevice(t.ctx.db, reg.deviceId))?.ssh_port);
  assert.equal((await findDevice(t.ctx.db, reg.deviceId))?.public_key, key.split(' ').slice(0, 2).join(' '));
  await assert.rejects(
    registerDevice(
      t.ctx,
      { enrolmentToken: grant.enrolmentToken, publicKey: generateEd25519KeyPair('e').public, hardware, agentVersion: 't' },
      gateway,
    ),
    (e: DomainError) => e.code === 'enrolment_token_invalid',
  );

  const late = await addDevice(t.ctx, owner.id, 'late', '');
  t.clock.advance(24 * 3_600_000);
  await assert.rejects(
    registerDevice(
      t.ctx,
      { enrolmentToken: late.enrolmentToken, publicKey: generateEd25519KeyPair('f').public, hardware, agentVersion: 't' },
      gateway,
    ),
    (e: DomainError) => e.code === 'enrolment_token_invalid',
  );
  await t.close();
});

test('a key already bound to another device is refused and the token stays unspent', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const key = generateEd25519KeyPair('d').public;
  const a = await addDevice(t.ctx, owner.id, 'a', '');
  const b = await addDevice(t.ctx, owner.id, 'b', '');
  await registerDevice(t.ctx, { enrolmentToken: a.enrolmentToken, publicKey: key, hardware, agentVersion: 't' }, gateway);
  await assert.rejects(
    registerDevice(t.ctx, { enrolmentToken: b.enrolmentToken, publicKey: key, hardware, agentVersion: 't' }, gateway),
    (e: DomainError) => e.code === 'device_key_taken',
  );
  const other = generateEd25519KeyPair('e').public;
  await registerDevice(t.ctx, { enrolmentToken: b.enrolmentToken, publicKey: other, hardware, agentVersion: 't' }, gateway);
  await t.close();
});

test('re-enrolment revokes the old key and the old token', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const grant = await addDevice(t.ctx, owner.id, 'pi', '');
  const again = await reissueEnrolmentToken(t.ctx, owner.id, grant.device.id);
  assert.notEqual(again.enrolmentToken, grant.enrolmentToken);
  await assert.rejects(
    registerDevice(
      t.ctx,
      { enrolmentToken: grant.enrolmentToken, publicKey: generateEd25519KeyPair('d').public, hardware, agentVersion: 't' },
      gateway,
    ),
    (e: DomainError) => e.code === 'enrolment_token_invalid',
  );
  await registerDevice(
    t.ctx,
    { enrolmentToken: again.enrolmentToken, publicKey: generateEd25519KeyPair('e').public, hardware, agentVersion: 't' },
    gateway,
  );
  const third = await reissueEnrolmentToken(t.ctx, owner.id, grant.device.id);
  assert.ok(third.enrolmentToken);
  assert.equal((await findDevice(t.ctx.db, grant.device.id))?.public_key, null, 'the enrolled key no longer works');
  await t.close();
});

test("other people's devices are invisible, not forbidden", async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const stranger = await t.createUser('stranger');
  const grant = await addDevice(t.ctx, owner.id, 'pi', '');
  // One at a time: started together, a later one could reject before anything awaits it.
  for (const attempt of [
    () => getDevice(t.ctx, stranger.id, grant.device.id),
    () => removeDevice(t.ctx, stranger.id, grant.device.id),
    () => reissueEnrolmentToken(t.ctx, stranger.id, grant.device.id),
  ]) {
    await assert.rejects(attempt, (e: DomainError) => e.code === 'not_found');
  }
  await t.close();
});

test('removing a rented device ends the rental and disconnects the device', async () => {
  const t = await createTestContext();
  const { owner, renter, deviceId, rental } = await t.createRunningRental();
  await removeDevice(t.ctx, owner.id, deviceId);
  const ended = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(ended.state, 'ended');
  assert.equal(ended.endReason, 'device_removed');
  assert.equal(t.online.has(deviceId), false);
  await assert.rejects(getDevice(t.ctx, owner.id, deviceId), (e: DomainError) => e.code === 'not_found');
  await t.close();
});

test('removing a device with a prepaid rental ends it the normal way: minutes billed, the rest of the hold returned, the renter told', async () => {
  const t = await createTestContext();
  const owner = await t.createUser('owner');
  const renter = await t.createUser('renter', 1_000_000n);
  const deviceId = await t.createListedDevice(owner.id);
  const told: string[] = [];
  t.ctx.notifyRental = (rentalId, event) => void told.push(`${rentalId} ${event}`);
  const rental = await rent(t.ctx, renter.id, { deviceId, hours: 10 });
  await syncDevice(t.ctx, deviceId, { container: { rentalId: rental.id, state: 'ready' } });
  for (let i = 0; i < 30; i++) {
    t.clock.advance(60_000);
    await meterTick(t.ctx);
  }
  t.clock.advance(20_000);
  await removeDevice(t.ctx, owner.id, deviceId);
  const ended = await getRental(t.ctx, renter.id, rental.id);
  assert.equal(ended.state, 'ended');
  assert.equal(ended.endReason, 'device_removed');
  assert.equal(ended.costMicros, 5_000, 'the 30 minutes used, at 0.01/h');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'rental_hold', userId: renter.id, rentalId: rental.id }), 0n, 'no hold is stranded');
  assert.equal(await balanceOf(t.ctx.db, { kind: 'renter_balance', userId: renter.id }), 1_000_000n - 5_000n);
  assert.deepEqual(told, [`${rental.id} active`, `${rental.id} ended`], 'the renter is told');
  assert.ok(t.nudges.some((n) => n.deviceId === deviceId && n.reason === 'rental_device_removed'));
  assert.equal(await ledgerTotal(t.ctx.db), 0n);
  await t.close();
});
