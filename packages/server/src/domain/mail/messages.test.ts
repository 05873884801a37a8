import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceOfflineMail, rentalActiveMail, rentalEndedMail, rentalEndingSoonMail } from './messages.ts';

/** An owner names their device; that name goes into renters' mails from the operator, so it must never become a link. */
const phishing = 'https://evil.example/login?to=pay';
const facts = { marketName: 'p2pvps', deviceName: phishing, rentalUrl: 'https://vps.example.org/rentals/abc123' };

test("a device's name is never a link in a mail; the server's own links are", () => {
  const mails = [
    rentalActiveMail({
      ...facts,
      sshCommand: 'ssh -p 20000 rabc@vps.example.org',
      username: 'rabc',
      password: null,
      sshKeyGiven: false,
      httpUrl: 'http://abc.vps.example.org/',
      httpsUrl: 'https://abc.vps.example.org/',
      expiresAt: null,
    }),
    rentalEndingSoonMail({ ...facts, expiresAt: '2026-03-02T12:00:00Z', leftMs: 30 * 60_000 }),
    rentalEndedMail({ ...facts, reason: 'renter_stopped', deviceLostGraceMs: 30 * 60_000, cost: '1.00 USD' }),
    deviceOfflineMail({
      marketName: 'p2pvps',
      deviceName: `<b>${phishing}</b>`,
      since: '2026-03-02T12:00:00Z',
      deviceUrl: 'https://vps.example.org/devices/d1',
      rentedGraceMs: null,
    }),
  ];
  for (const mail of mails) {
    assert.ok(!mail.html.includes('href="https://evil.example'), mail.html);
    assert.ok(!mail.html.includes('<b>'), 'user text is escaped');
    assert.match(mail.html, /https:\/\/evil\.example\/login\?to=pay/, 'the name is shown as it is');
    assert.match(mail.html, /<a href="https:\/\/vps\.example\.org\/(rentals|devices)\//, "the server's link is clickable");
    assert.match(mail.text, /evil\.example/);
  }
});
