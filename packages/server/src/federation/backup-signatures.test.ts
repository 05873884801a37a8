import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../domain/clock.ts';
import type { DomainError } from '../domain/errors.ts';
import { backupWorth, checkAgreement, checkHandback, signAgreement, signHandback, type Signer } from './backup-signatures.ts';
import { ServerIdentity } from './server-key.ts';

/** B (the home) checks what C (its backup) signs: the agreement, and the stretches C hands back. */
const clock = new ManualClock(new Date('2026-12-07T05:00:00Z'));
const dirs: string[] = [];
function identity(): ServerIdentity {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-backupkey-'));
  dirs.push(dir);
  return new ServerIdentity(dir, clock);
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const bUrl = 'https://b.example';
const cUrl = 'https://c.example';
const c = identity();
const mallory = identity();
const signer = (who: ServerIdentity, url = cUrl): Signer => ({ url, keyId: who.key.id, sign: (d) => who.sign(d) });
const peerC = { url: cUrl, key: c.key };
const terms = {
  home: bUrl,
  gateway: { host: 'c.example', port: 2222, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC' },
  webDomain: 'c.example',
  backupFeeBps: 1000,
  maxDevices: 100,
  validUntil: '2026-12-08T05:00:00.000Z',
};
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return (err as DomainError).code;
  }
};

test("C's agreement, signed by C for B, is accepted as it came", () => {
  const agreement = signAgreement(terms, signer(c));
  const checked = checkAgreement(JSON.parse(JSON.stringify(agreement)), { peer: peerC, ownUrl: bUrl, now: clock.now() });
  assert.equal(checked.backup, cUrl);
  assert.equal(checked.gateway.port, 2222);
});

test('an agreement altered after signing, signed by another key, made out for another home, or expired is refused', () => {
  const agreement = signAgreement(terms, signer(c));
  const check = (raw: unknown) => code(() => checkAgreement(raw, { peer: peerC, ownUrl: bUrl, now: clock.now() }));
  assert.equal(check({ ...agreement, backupFeeBps: 9000 }), 'federation_bad_signature');
  assert.equal(check({ ...agreement, gateway: { ...agreement.gateway, host: 'evil.example' } }), 'federation_bad_signature');
  assert.equal(check(signAgreement(terms, { ...signer(mallory), keyId: c.key.id })), 'federation_bad_signature');
  assert.equal(check(signAgreement({ ...terms, home: 'https://a.example' }, signer(c))), 'federation_wrong_origin');
  assert.equal(check(signAgreement(terms, signer(mallory, 'https://m.example'))), 'federation_wrong_origin');
  assert.equal(check(signAgreement({ ...terms, validUntil: '2026-12-07T04:59:59.000Z' }, signer(c))), 'invalid_request');
  assert.equal(check({ ...agreement, signature: undefined }), 'invalid_request');
});

const stretch = {
  home: bUrl,
  serviceId: 'svc1',
  deviceId: 'dev1',
  rentalId: 'ren1',
  from: '2026-12-07T05:00:00.000Z',
  to: '2026-12-07T05:02:10.000Z',
  minutes: 3,
  backupFeeBps: 1000,
};

test('a hand-back signed by C is accepted; altered, foreign or claiming more minutes than its stretch, refused', () => {
  const check = (raw: unknown) => code(() => checkHandback(raw, { peer: peerC, ownUrl: bUrl }));
  const h = signHandback(stretch, signer(c));
  assert.equal(check(h), 'accepted');
  assert.equal(check({ ...h, minutes: 2 }), 'federation_bad_signature');
  assert.equal(check(signHandback({ ...stretch, home: 'https://a.example' }, signer(c))), 'federation_wrong_origin');
  assert.equal(check(signHandback({ ...stretch, minutes: 4 }, signer(c))), 'invalid_request');
  assert.equal(check(signHandback({ ...stretch, to: '2026-12-07T04:00:00.000Z', minutes: 0 }, signer(c))), 'invalid_request');
});

test("what served minutes are worth at the rental's price, and the backup's share, in whole micro-units", () => {
  assert.deepEqual(backupWorth(3, 60_000n, 1000), { amount: 3000n, fee: 300n });
  assert.deepEqual(backupWorth(1, 100n, 1000), { amount: 1n, fee: 0n });
  assert.deepEqual(backupWorth(0, 60_000n, 1000), { amount: 0n, fee: 0n });
});
