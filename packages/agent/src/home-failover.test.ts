import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';
import { FailoverRule, HomeFailover, type BackupTarget } from './home-failover.ts';

const t0 = Date.parse('2026-12-07T05:00:00Z');
const backupC: DeviceBackup = {
  server: 'https://c.example',
  gateway: { host: 'c.example', port: 2222, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC' },
  sshPort: 20999,
  webHost: 'quiet-fox.c.example',
  validUntil: new Date(t0 + 24 * 3600_000).toISOString(),
};
const down = { homeTunnelUp: false, homeAnswers: false };
const answering = { homeTunnelUp: false, homeAnswers: true };
const rule = () => new FailoverRule({ unreachableMs: 30_000, returnAfterMs: 60_000 });

test('the home unreachable (tunnel down, no answer) for the threshold sends the device to its backup, not a moment before', () => {
  const r = rule();
  assert.equal(r.observe(t0, down, [backupC]), null);
  assert.equal(r.observe(t0 + 29_999, down, [backupC]), null);
  assert.deepEqual(r.observe(t0 + 30_000, down, [backupC]), { go: 'away', backup: backupC });
  assert.equal(r.backup, backupC);
});

test('a home that answers, or whose tunnel comes back, starts the count again', () => {
  const r = rule();
  r.observe(t0, down, [backupC]);
  assert.equal(r.observe(t0 + 20_000, answering, [backupC]), null, 'the API answers: a gateway blip is no reason to move');
  assert.equal(r.observe(t0 + 40_000, down, [backupC]), null);
  assert.equal(r.observe(t0 + 69_999, down, [backupC]), null);
  r.observe(t0 + 65_000, { homeTunnelUp: true, homeAnswers: null }, [backupC]);
  assert.equal(r.observe(t0 + 90_000, down, [backupC]), null);
});

test('no backup, or only expired agreements: the device stays and waits for its home', () => {
  const r = rule();
  r.observe(t0, down, []);
  assert.equal(r.observe(t0 + 60_000, down, []), null);
  const expired = { ...backupC, validUntil: new Date(t0).toISOString() };
  assert.equal(r.observe(t0 + 120_000, down, [expired]), null);
  assert.equal(r.backup, null);
});

test('away, the device returns only once the home has answered for returnAfterMs without a miss', () => {
  const r = rule();
  r.observe(t0, down, [backupC]);
  r.observe(t0 + 30_000, down, [backupC]);
  assert.equal(r.observe(t0 + 40_000, answering, [backupC]), null);
  assert.equal(r.observe(t0 + 90_000, down, [backupC]), null, 'a miss starts the wait again');
  assert.equal(r.observe(t0 + 100_000, answering, [backupC]), null);
  assert.equal(r.observe(t0 + 159_999, answering, [backupC]), null);
  assert.deepEqual(r.observe(t0 + 160_000, answering, [backupC]), { go: 'home' });
  assert.equal(r.backup, null);
});

test("away past the backup's agreement, the device goes home to try there", () => {
  const short = { ...backupC, validUntil: new Date(t0 + 40_000).toISOString() };
  const r = rule();
  r.observe(t0, down, [short]);
  assert.equal(r.observe(t0 + 30_000, down, [short])?.go, 'away');
  assert.deepEqual(r.observe(t0 + 40_000, down, [short]), { go: 'home' });
});

test('HomeFailover probes the home only while its tunnel is down, and moves the tunnel to the backup and back', async () => {
  let now = t0;
  let tunnelUp = true;
  let answers = true;
  let probes = 0;
  const switches: (BackupTarget | null)[] = [];
  const f = new HomeFailover({
    unreachableMs: 2_000,
    returnAfterMs: 3_000,
    now: () => now,
    probeHome: async () => {
      probes++;
      return answers;
    },
    tunnelUp: () => tunnelUp,
    backups: () => [backupC],
    switchTo: (target) => switches.push(target),
    log: () => {},
  });
  await f.tick();
  assert.equal(probes, 0, 'a tunnel up at home needs no probe');
  tunnelUp = false;
  answers = false;
  await f.tick();
  now += 2_000;
  await f.tick();
  assert.deepEqual(switches, [{ server: backupC.server, host: 'c.example', port: 2222, hostKey: backupC.gateway.hostKey, sshPort: 20999 }]);
  assert.deepEqual(f.target(), switches[0]);
  // Up at the backup now: the home is probed all the same.
  tunnelUp = true;
  answers = true;
  const before = probes;
  await f.tick();
  now += 3_000;
  await f.tick();
  assert.equal(probes, before + 2);
  assert.deepEqual(switches.at(-1), null);
  assert.equal(f.target(), null);
  f.close();
});

test('the rule says when its next decision falls due, so the device moves at the threshold, not a tick later', () => {
  const r = rule();
  assert.equal(r.dueAt, null);
  r.observe(t0, down, [backupC]);
  assert.equal(r.dueAt, t0 + 30_000);
  r.observe(t0 + 30_000, down, [backupC]);
  assert.equal(r.dueAt, null, 'away, and the home has not answered yet');
  r.observe(t0 + 31_000, answering, [backupC]);
  assert.equal(r.dueAt, t0 + 91_000);
});
