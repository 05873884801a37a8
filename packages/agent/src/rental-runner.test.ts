import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';
import { RentalRunner, type RenterDisk, type RenterEngine } from './rental-runner.ts';
import { WrongKeyError } from './storage/encrypted-home.ts';
import { StateFile } from './state.ts';

/**
 * The runner's rules where they hinge on a step failing or the agent stopping between two
 * steps: a real engine and a real disk cannot be made to fail at exactly that point, so a
 * stand-in engine and disk record the order of what is done and fail on request. The same
 * rules with real Docker, real storage and OpenSSH: e2e/storage-wipe, e2e/agent-restart,
 * e2e/offline-rules and e2e/rental-lifecycle.
 */
function device() {
  const steps: string[] = [];
  const running = new Map<string, string>();
  /** Prepared containers not yet handed over, by container ID. */
  const prepared = new Set<string>();
  const fail = { wipe: false, start: false };
  const home = { secret: null as string | null, unlocked: false };
  let uuids = 0;
  let made = 0;
  const engine: RenterEngine = {
    removeEarlierIdentities: async () => [],
    existingRentalId: async () => [...running.keys()][0] ?? null,
    removeAllExcept: async (keep, keepContainerId) => {
      const gone = [...running.keys()].filter((r) => r !== keep);
      for (const r of gone) running.delete(r);
      for (const id of prepared) if (id !== keepContainerId) (prepared.delete(id), gone.push(id));
      steps.push(`remove ${gone.join(',')}`);
      return gone;
    },
    prepare: async () => {
      const id = `prepared-${++made}`;
      prepared.add(id);
      steps.push(`prepare ${id}`);
      return id;
    },
    preparedReady: async (id) => prepared.has(id),
    handOver: async (id, rental) => {
      steps.push(`hand ${id} to ${rental.rentalId}`);
      prepared.delete(id);
      running.set(rental.rentalId, id);
      return id;
    },
    status: async (rentalId) => (running.has(rentalId) ? { id: running.get(rentalId)!, running: true } : null),
    ensureRunning: async (rentalId) => void steps.push(`resume ${rentalId}`),
    ensureImage: async () => undefined,
    stopAll: async () => {
      const stopped = [...running.keys()];
      steps.push(`stop ${stopped.join(',')}`);
      return stopped;
    },
    start: async (rental) => {
      steps.push(`start ${rental.rentalId}`);
      if (fail.start) throw new Error('sshd did not answer');
      running.set(rental.rentalId, `c-${rental.rentalId}`);
      return `c-${rental.rentalId}`;
    },
  };
  const disk: RenterDisk = {
    open: async (o) => (steps.push(`open keep=${o.keep}`), o.keep ? null : (o.cleanUuid ?? `uuid-${++uuids}`)),
    wipe: async () => {
      steps.push('wipe');
      if (fail.wipe) throw new Error('umount: target is busy');
      return `uuid-${++uuids}`;
    },
    fitTo: async () => null,
    needsRefit: () => false,
    capacityBytes: () => 2 ** 30,
    homeDir: '/srv/renter-storage/home',
    mounted: () => true,
    mountDir: '/srv/renter-storage',
    // The kernel's side of an encrypted home (storage/encrypted-home.test.ts runs the real one).
    encryptedHome: {
      create: async (_rentalId, secret) => void (steps.push('encrypt'), (home.secret = secret), (home.unlocked = true)),
      locked: async () => home.secret !== null && !home.unlocked,
      unlock: async (secret) => {
        if (secret !== home.secret) throw new WrongKeyError();
        steps.push('unlock');
        home.unlocked = true;
      },
    },
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'p2pvps-runner-'));
  let clock = Date.parse('2026-12-06T12:00:00Z');
  const runner = (prepare = false) =>
    new RentalRunner({
      prepare,
      dataDir,
      serverUrl: 'https://market.example.org',
      storage: disk,
      readyTimeoutMs: 1000,
      now: () => clock,
      dataKeepMs: 60_000,
      log: () => undefined,
    });
  const state = () => new StateFile(dataDir).read('https://market.example.org');
  return { steps, running, prepared, fail, home, engine, runner, state, advance: (ms: number) => (clock += ms) };
}

const rental = (rentalId: string): DesiredRental => ({
  rentalId,
  username: 'u',
  passwordHash: '$6$s$h',
  authorizedKey: null,
  expiresAt: null,
});

test('a rental ends: its container is destroyed before the storage is wiped, and the rental is forgotten only after', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  await r.reconcile(rental('r1'));
  assert.equal(d.state().rental?.rentalId, 'r1');
  d.steps.length = 0;
  await r.reconcile(null);
  assert.deepEqual(d.steps.slice(0, 2), ['remove r1', 'remove '], 'destroyed first');
  assert.equal(d.steps[2], 'wipe');
  assert.equal(d.state().rental, null);
  assert.ok(d.state().cleanStorageUuid, 'the wiped storage is remembered as clean');
  assert.equal(r.observed, null);
});

test('a failed wipe keeps the rental in the state file, so a restarted agent wipes before it runs anyone else', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  await r.reconcile(rental('r1'));
  d.fail.wipe = true;
  await r.reconcile(null);
  assert.match(r.storageFault ?? '', /could not be wiped after the last rental: umount: target is busy\. The device stays off the market/);
  assert.equal(d.state().rental?.rentalId, 'r1', 'not forgotten while its files may be on the storage');

  // The agent restarts; a new renter is named before the wipe has worked.
  const again = d.runner();
  await again.engage(d.engine);
  assert.deepEqual(d.steps.at(-1), 'open keep=true', "the earlier renter's storage is mounted as it is, not handed over");
  await again.reconcile(rental('r2'));
  assert.equal(again.observed?.state, 'failed', 'the new rental is refused');
  assert.ok(!d.steps.includes('start r2'), 'no container is started on an unwiped storage');

  d.fail.wipe = false;
  await again.reconcile(null);
  assert.equal(again.storageFault, null);
  assert.equal(d.state().rental, null);
  await again.reconcile(rental('r3'));
  assert.equal(again.observed?.state, 'ready');
  assert.ok(d.steps.lastIndexOf('wipe') < d.steps.indexOf('start r3'));
});

test('the storage counts as used from just before a container starts, so a crash mid-start is wiped', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  d.fail.start = true;
  const observedBefore = d.steps.length;
  await r.reconcile(rental('r1'));
  assert.equal(r.observed?.state, 'failed');
  assert.match(r.observed?.state === 'failed' ? (r.observed.detail ?? '') : '', /sshd did not answer/);
  assert.deepEqual(
    d.steps.slice(observedBefore),
    ['remove ', 'start r1', 'remove ', 'wipe'],
    'what the container may have written is wiped',
  );
  assert.equal(d.state().rental, null);
  assert.ok(d.state().cleanStorageUuid);
});

test('a resumed rental keeps its data; past the data-keeping limit without the server it is given up and wiped', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  await r.reconcile(rental('r1'));
  r.heardFromServer('r1');

  // The agent restarts within the limit: the container is resumed, nothing is wiped.
  d.advance(59_000);
  d.steps.length = 0;
  const again = d.runner();
  await again.engage(d.engine);
  assert.deepEqual(again.observed, { rentalId: 'r1', state: 'starting' });
  await again.reconcile(rental('r1'));
  assert.deepEqual(d.steps, ['open keep=true', 'resume r1']);

  d.advance(1_000);
  await again.giveUpIfUnreachableTooLong();
  assert.deepEqual(d.steps.slice(2), ['remove r1', 'wipe']);
  assert.equal(again.observed?.state, 'failed');
  assert.equal(d.state().rental, null);
  assert.equal(d.state().lostRental?.rentalId, 'r1', 'reported as lost until the server lets go of it');
  again.heardFromServer(null);
  assert.equal(d.state().lostRental, null);
});

/** Lets the runner's background preparation finish. */
const settle = () => new Promise((r) => setTimeout(r, 10));

test('a container is prepared only on freshly wiped storage, a rent takes it, and the next is prepared only after the wipe', async () => {
  const d = device();
  const r = d.runner(true);
  await r.engage(d.engine);
  await r.reconcile(null);
  await settle();
  assert.deepEqual([...d.prepared], ['prepared-1']);
  await r.reconcile(null);
  await settle();
  assert.deepEqual([...d.prepared], ['prepared-1'], 'kept while idle, not made again');

  d.steps.length = 0;
  await r.reconcile(rental('r1'));
  assert.equal(r.observed?.state, 'ready');
  assert.deepEqual(d.steps, ['remove ', 'hand prepared-1 to r1']);
  assert.equal(d.state().cleanStorageUuid, null, 'the storage counts as used from the hand-over');

  d.steps.length = 0;
  await r.reconcile(null);
  await settle();
  assert.deepEqual(d.steps, ['remove r1', 'remove ', 'wipe', 'prepare prepared-2'], "a fresh one, on the wiped storage, never r1's");
  await r.reconcile(rental('r2'));
  assert.equal(d.running.get('r2'), 'prepared-2');
});

test('a prepared container is never handed over once the storage it was made on is no longer known clean', async () => {
  const d = device();
  const r = d.runner(true);
  await r.engage(d.engine);
  await r.reconcile(null);
  await settle();
  await r.reconcile(rental('r1'));
  d.fail.wipe = true;
  await r.reconcile(null);
  await settle();
  assert.deepEqual([...d.prepared], [], 'none is prepared while the wipe fails');
  d.fail.wipe = false;
  await r.reconcile(null);
  await settle();
  assert.deepEqual([...d.prepared], ['prepared-2']);

  // A restarted agent does not trust a prepared container it did not make itself.
  const again = d.runner(true);
  await again.engage(d.engine);
  d.steps.length = 0;
  await again.reconcile(rental('r2'));
  assert.deepEqual(d.steps.slice(0, 2), ['remove prepared-2', 'start r2']);
});

test('an encrypted rental: its home is encrypted at the start; after a reboot it stays stopped and reported locked until the right secret comes', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  const secret = 'renter secret 123';
  const desired = { ...rental('r1'), encryption: { key: secret } };
  await r.reconcile(desired);
  assert.deepEqual(r.observed, { rentalId: 'r1', state: 'ready' });
  assert.ok(d.steps.indexOf('encrypt') < d.steps.indexOf('start r1'), 'the home is encrypted before the container starts');
  assert.deepEqual(r.lock.report, { rentalId: 'r1', locked: false });
  assert.equal(JSON.stringify(d.state()).includes(secret), false, 'the secret is not in the state file');

  // The device reboots: the kernel forgot the key; Docker restarted the container.
  d.home.unlocked = false;
  const after = d.runner();
  await after.engage(d.engine);
  d.steps.length = 0;
  await after.reconcile({ ...rental('r1'), encryption: {} });
  assert.deepEqual(after.lock.report, { rentalId: 'r1', locked: true });
  assert.equal(after.observed?.state, 'starting', 'neither ready nor failed: it waits');
  assert.deepEqual(d.steps, ['stop r1'], 'the container is stopped, not resumed, on a home it cannot read');

  await after.reconcile({ ...rental('r1'), encryption: { key: 'a wrong secret' } });
  assert.match(after.lock.report?.detail ?? '', /does not open this rental’s storage/);
  await after.reconcile({ ...rental('r1'), encryption: {} });
  assert.match(after.lock.report?.detail ?? '', /does not open/, 'the wrong secret is still the reason');

  await after.reconcile({ ...rental('r1'), encryption: { key: secret } });
  assert.deepEqual(after.lock.report, { rentalId: 'r1', locked: false });
  assert.deepEqual(after.observed, { rentalId: 'r1', state: 'ready' });
  assert.deepEqual(d.steps.slice(-2), ['unlock', 'resume r1']);
});

test('an encrypted rental whose secret never reached the device fails to start, and is wiped', async () => {
  const d = device();
  const r = d.runner();
  await r.engage(d.engine);
  await r.reconcile({ ...rental('r1'), encryption: {} });
  assert.equal(r.observed?.state, 'failed');
  assert.match(r.observed?.detail ?? '', /secret for the encrypted storage did not reach the device/);
  assert.ok(!d.steps.includes('start r1'));
});
