/**
 * The server's mail, through a real SMTP server started here (smtp-server on 127.0.0.1,
 * with a login the server must use), read back with mailparser: what renters and owners
 * receive, and when. Time is a ManualClock; the workers run on short real intervals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import ssh2 from 'ssh2';
import { ApiClient, ApiError } from '@p2pvps/protocol/client';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { ManualClock } from '../domain/clock.ts';
import { offlineNoticeAfterMs } from '../domain/mail/notices.ts';
import { syncDevice } from '../domain/rentals/agent-sync.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { operatorClient } from './operator-client.ts';
import type { RunningServer } from './server.ts';

const MINUTE = 60_000;
const PRICE = 60_000; // micro-units per hour: 1,000 a minute

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A real SMTP server that wants a login and keeps what it receives; it can turn mails away with a 451. */
async function startSmtp() {
  const received: ParsedMail[] = [];
  const state = { refuseNext: 0 };
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === 'mailer' && auth.password === 's3cret/+') cb(null, { user: 'mailer' });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, _session, cb) {
      simpleParser(stream).then(
        (mail) => {
          if (state.refuseNext > 0) {
            state.refuseNext--;
            cb(Object.assign(new Error('Try again later'), { responseCode: 451 }));
          } else {
            received.push(mail);
            cb();
          }
        },
        (err: Error) => cb(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { server, port, received, state };
}

interface Market {
  testServer: TestServer;
  server: RunningServer;
  clock: ManualClock;
  api: ApiClient;
  operator: ApiClient;
  log: string[];
  dataDir: string;
  /** The text of the verification mail sent to an address: from the outbox, or from the SMTP server once there is one. */
  verificationMail(to: string): Promise<string>;
}

async function startMarket(env: Record<string, string>): Promise<Market> {
  const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
  const log: string[] = [];
  const testServer = await startTestServer(
    'mail',
    {
      P2PVPS_PUBLIC_URL: 'https://market.example.org',
      P2PVPS_SERVER_NAME: 'Test Market',
      P2PVPS_EXPIRY_CHECK_INTERVAL_MS: '50',
      P2PVPS_METER_INTERVAL_MS: '50',
      P2PVPS_LOG_LEVEL: 'info',
      ...env,
    },
    { clock, logStream: { write: (line) => void log.push(line) } },
  );
  const { server, dataDir } = testServer;
  const api = new ApiClient({ baseUrl: server.apiUrl });
  const operator = await operatorClient(server.apiUrl, dataDir);
  const verificationMail = (to: string) =>
    waitFor(async () => {
      const outbox = await operator.call('adminOutbox', { query: { state: 'outbox' } });
      return outbox.mails.find((x) => x.to === to && x.subject.startsWith('Confirm your email address'))?.text;
    }, `the verification mail to ${to}`);
  return { testServer, server, clock, api, operator, log, dataDir, verificationMail };
}

async function closeMarket(m: Market | undefined) {
  await m?.testServer.stop();
}

let users = 0;
/** A user who signed up and opened the link in the verification mail (until then nothing else is mailed to them). */
async function createUser(m: Market, role: string, creditMicros = 100_000_000) {
  const email = `${role}${++users}@example.org`;
  const session = await m.api.call('signup', { body: { email, password: 'correct horse battery' } });
  const link = /https:\/\/market\.example\.org\/verify-email\?token=(\S+)/.exec(await m.verificationMail(email));
  assert.ok(link, 'the verification mail has the link');
  assert.deepEqual(await m.api.call('verifyEmail', { body: { token: decodeURIComponent(link[1]!) } }), { email });
  if (creditMicros > 0) await m.operator.call('adminCredit', { body: { email, amountMicros: creditMicros } });
  return { email, id: session.user.id, api: m.api.withToken(session.token) };
}

/** A device enrolled through the API whose tunnel is opened with ssh2, as its agent would. */
async function createDevice(m: Market, owner: { api: ApiClient }, name: string) {
  const grant = await owner.api.call('addDevice', { body: { name } });
  const keys = generateEd25519KeyPair('device@test');
  const registration = await m.api.call('agentRegister', {
    body: {
      enrolmentToken: grant.enrolmentToken,
      publicKey: keys.public,
      hardware: { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' },
      agentVersion: 'mail-test',
    },
  });
  let tunnel: InstanceType<typeof ssh2.Client> | undefined;
  const device = {
    id: registration.deviceId,
    async online() {
      const client = new ssh2.Client();
      client.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.connect({ host: '127.0.0.1', port: m.server.gatewayPort, username: registration.deviceId, privateKey: keys.private });
      });
      await new Promise<void>((resolve, reject) =>
        client.forwardIn('127.0.0.1', registration.sshPort, (err) => (err ? reject(err) : resolve())),
      );
      tunnel = client;
      await waitFor(() => m.server.gateway.isOnline(registration.deviceId), 'the tunnel to come up');
      // The gateway records the time it came up (last_seen_at) a write later.
      await waitFor(async () => (await owner.api.call('getDevice', { params: { deviceId: registration.deviceId } })).online, 'online');
    },
    async offline() {
      tunnel?.end();
      await waitFor(() => !m.server.gateway.isOnline(registration.deviceId), 'the tunnel to go down');
      await waitFor(async () => !(await owner.api.call('getDevice', { params: { deviceId: registration.deviceId } })).online, 'offline');
    },
    /** The agent's heartbeat saying what container it runs (null: none, wiped). */
    report: (container: { rentalId: string; state: 'ready' } | null) => syncDevice(m.server.ctx, registration.deviceId, { container }),
  };
  await device.online();
  await owner.api.call('updateDevice', { params: { deviceId: device.id }, body: { pricePerHourMicros: PRICE, onMarket: true } });
  return device;
}

describe('mail through SMTP', () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let m: Market;
  let owner: Awaited<ReturnType<typeof createUser>>;
  let device: Awaited<ReturnType<typeof createDevice>>;
  const mailTo = (to: string, subject: RegExp) =>
    smtp.received.filter((r) => r.to && 'text' in r.to && r.to.text === to && subject.test(r.subject ?? ''));
  const nextMail = (to: string, subject: RegExp) =>
    waitFor(
      () => mailTo(to, subject)[0],
      `a mail to ${to}: ${subject} (received: ${smtp.received.map((r) => `${r.subject} → ${r.to && 'text' in r.to ? r.to.text : ''}`).join('; ')})`,
    );

  before(async () => {
    smtp = await startSmtp();
    m = await startMarket({
      P2PVPS_SMTP_URL: `smtp://mailer:${encodeURIComponent('s3cret/+')}@127.0.0.1:${smtp.port}`,
      P2PVPS_MAIL_FROM: 'Test Market <noreply@market.example.org>',
    });
    m.verificationMail = async (to) => (await nextMail(to, /^Confirm your email address/)).text ?? '';
    owner = await createUser(m, 'owner', 0);
    device = await createDevice(m, owner, 'kitchen-pi');
  });
  after(async () => {
    await closeMarket(m);
    await new Promise<void>((resolve) => smtp?.server.close(() => resolve()));
  });

  test('the start log names the SMTP server without its password', () => {
    const line = m.log.find((l) => l.includes('mail: notices are sent through'));
    assert.ok(line, 'no mail line in the log');
    assert.match(line, new RegExp(`smtp://mailer@127\\.0\\.0\\.1:${smtp.port} as Test Market <noreply@market\\.example\\.org>`));
    assert.ok(!m.log.some((l) => l.includes('s3cret')), 'the SMTP password is in the log');
  });

  test('a prepaid rental: ready (no password by default), ending soon, ended as expired', async () => {
    const renter = await createUser(m, 'renter');
    assert.deepEqual(await renter.api.call('getSettings', {}), { emailRentalPassword: false });
    const rental = await renter.api.call('rent', { body: { deviceId: device.id, hours: 1 } });
    await device.report({ rentalId: rental.id, state: 'ready' });

    const ready = await nextMail(renter.email, /^Your rental of kitchen-pi is ready$/);
    assert.equal(ready.from?.text, '"Test Market" <noreply@market.example.org>');
    assert.ok(ready.text?.includes(`ssh -p ${rental.connection.port} ${rental.connection.username}@127.0.0.1`), ready.text);
    assert.ok(ready.text?.includes(`https://market.example.org/rentals/${rental.id}`), ready.text);
    assert.ok(ready.text?.includes('It ends at 2026-03-02 13:00 UTC'), ready.text);
    assert.ok(ready.text?.includes(rental.connection.httpsUrl), ready.text);
    assert.ok(!ready.text?.includes(rental.connection.password), 'the password is in the mail though the renter did not ask for it');
    assert.ok(!String(ready.html).includes(rental.connection.password), 'the password is in the HTML part');
    assert.match(String(ready.html), new RegExp(`<a href="https://market.example.org/rentals/${rental.id}">`));

    m.clock.advance(31 * MINUTE);
    const soon = await nextMail(renter.email, /^Your rental of kitchen-pi ends in 29 minutes$/);
    assert.ok(soon.text?.includes('ends at 2026-03-02 13:00 UTC'), soon.text);
    // Once: the worker keeps looking.
    m.clock.advance(10 * MINUTE);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailTo(renter.email, /ends in/).length, 1);

    m.clock.advance(20 * MINUTE);
    const ended = await nextMail(renter.email, /^Your rental of kitchen-pi has ended$/);
    assert.ok(ended.text?.includes('has ended because its prepaid time ran out'), ended.text);
    assert.match(ended.text ?? '', /It cost 0\.06 USD in all\./);
    await device.report(null);

    // What SMTP took is no longer kept: the bodies may have held a password.
    const outbox = await m.operator.call('adminOutbox', { query: {} });
    assert.equal(outbox.delivery, 'smtp');
    const sent = outbox.mails.filter((x) => x.to === renter.email);
    assert.deepEqual(
      // (The verification mail and the ready one may share an instant of the test's clock.)
      sent.map((x) => [x.kind, x.state, x.text]).sort((a, b) => a[0]!.localeCompare(b[0]!)),
      [
        ['email_verification', 'sent', ''],
        ['rental_active', 'sent', ''],
        ['rental_ended', 'sent', ''],
        ['rental_ending_soon', 'sent', ''],
      ],
    );
  });

  test('a renter who chose it gets the password by mail; stopping sends the ended mail', async () => {
    const renter = await createUser(m, 'renter');
    assert.deepEqual(await renter.api.call('updateSettings', { body: { emailRentalPassword: true } }), { emailRentalPassword: true });
    assert.deepEqual(await renter.api.call('getSettings', {}), { emailRentalPassword: true });
    const rental = await renter.api.call('rent', { body: { deviceId: device.id } });
    await device.report({ rentalId: rental.id, state: 'ready' });
    const ready = await nextMail(renter.email, /is ready$/);
    assert.ok(ready.text?.includes(`Log in as ${rental.connection.username} with the password ${rental.connection.password}`), ready.text);
    assert.ok(ready.text?.includes('until you stop it'), ready.text);

    await renter.api.call('stopRental', { params: { rentalId: rental.id }, body: {} });
    const ended = await nextMail(renter.email, /has ended$/);
    assert.ok(ended.text?.includes('has ended because you stopped it'), ended.text);
    assert.ok(!ended.text?.includes(rental.connection.password));
    await device.report(null);
  });

  test('low balance: one warning when the balance covers less than 30 minutes', async () => {
    const renter = await createUser(m, 'renter', PRICE); // one hour of the device
    const rental = await renter.api.call('rent', { body: { deviceId: device.id } });
    await device.report({ rentalId: rental.id, state: 'ready' });
    await nextMail(renter.email, /is ready$/);
    m.clock.advance(35 * MINUTE);
    const low = await nextMail(renter.email, /^Your balance is running low$/);
    assert.match(low.text ?? '', /Your balance on Test Market is 0\.0[23] USD: less than 30 minutes/);
    assert.ok(low.text?.includes('less than 30 minutes'), low.text);
    assert.ok(low.text?.includes('https://market.example.org/account'), low.text);
    m.clock.advance(MINUTE);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailTo(renter.email, /running low/).length, 1);

    m.clock.advance(30 * MINUTE);
    const out = await nextMail(renter.email, /^Your balance is used up/);
    assert.ok(out.text?.includes('end in 10 minutes unless you top up'), out.text);
    await renter.api.call('stopRental', { params: { rentalId: rental.id }, body: {} });
    await device.report(null);
  });

  test('a device offline: its owner hears once per outage; a failed send is retried', async () => {
    const subject = /^Your device kitchen-pi is offline$/;
    await device.offline();
    m.clock.advance(offlineNoticeAfterMs - MINUTE);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailTo(owner.email, subject).length, 0, 'mailed before the outage was long enough');

    smtp.state.refuseNext = 1;
    m.clock.advance(2 * MINUTE);
    await waitFor(() => m.log.find((l) => l.includes('mail not sent; will retry')), 'the failure in the log');
    assert.equal(mailTo(owner.email, subject).length, 0);
    m.clock.advance(MINUTE);
    m.server.mail.kick();
    const offline = await nextMail(owner.email, subject);
    assert.ok(offline.text?.includes('offline on Test Market since 2026-03-02'), offline.text);
    assert.ok(offline.text?.includes(`https://market.example.org/devices/${device.id}`), offline.text);

    m.clock.advance(60 * MINUTE);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailTo(owner.email, subject).length, 1, 'mailed twice for one outage');

    // Back, then gone again: a new outage, a new mail.
    await device.online();
    m.clock.advance(MINUTE);
    await device.offline();
    m.clock.advance(offlineNoticeAfterMs + MINUTE);
    await waitFor(() => mailTo(owner.email, subject).length === 2 || undefined, 'a mail for the second outage');
  });
});

describe('mail without SMTP', () => {
  let m: Market;
  before(async () => {
    m = await startMarket({});
  });
  after(() => closeMarket(m));

  test('says so once at start, and the notices wait in the outbox for the operator', async () => {
    assert.equal(m.log.filter((l) => l.includes('mail: no SMTP server configured')).length, 1);
    const owner = await createUser(m, 'owner', 0);
    const device = await createDevice(m, owner, 'attic-pi');
    await device.offline();
    m.clock.advance(offlineNoticeAfterMs + MINUTE);
    const outbox = await waitFor(async () => {
      const o = await m.operator.call('adminOutbox', { query: { state: 'outbox' } });
      return o.mails.some((x) => x.subject.includes('offline')) ? o : undefined;
    }, 'a mail in the outbox');
    assert.equal(outbox.delivery, 'outbox');
    const [mail] = outbox.mails;
    assert.equal(mail?.to, owner.email);
    assert.equal(mail?.subject, 'Your device attic-pi is offline');
    assert.ok(mail?.text.includes('Check that it has power and network'), mail?.text);
    await assert.rejects(
      () => owner.api.call('adminOutbox', { query: {} }),
      (err: ApiError) => err.status === 404 || err.status === 403,
    );
  });

  test('an address nobody confirmed gets the verification link and nothing else, until the link is opened', async () => {
    const email = 'stranger@example.org';
    const session = await m.api.call('signup', { body: { email, password: 'correct horse battery' } });
    assert.equal(session.user.emailVerified, false);
    const owner = { api: m.api.withToken(session.token) };
    const to = async () => (await m.operator.call('adminOutbox', {})).mails.filter((x) => x.to === email).map((x) => x.subject);
    // Asking again within a minute sends nothing more.
    await owner.api.call('resendEmailVerification', { body: {} });
    assert.equal((await to()).length, 1);
    const device = await createDevice(m, owner, 'unconfirmed-pi');
    await device.offline();
    m.clock.advance(offlineNoticeAfterMs + MINUTE);
    // The notice worker runs every 50 ms: give it a few rounds to (not) queue the notice.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await to(), ['Confirm your email address for Test Market']);
    // A wrong token confirms nothing.
    await assert.rejects(
      m.api.call('verifyEmail', { body: { token: `p2pv_${'A'.repeat(43)}` } }),
      (err: ApiError) => err.code === 'verification_token_invalid' && err.status === 400,
    );
    const text = await m.verificationMail(email);
    assert.ok(!text.includes(session.token));
    const token = decodeURIComponent(/verify-email\?token=(\S+)/.exec(text)![1]!);
    await m.api.call('verifyEmail', { body: { token } });
    assert.equal((await owner.api.call('me')).emailVerified, true);
    await assert.rejects(
      m.api.call('verifyEmail', { body: { token } }),
      (err: ApiError) => err.code === 'verification_token_invalid',
      'a link works once',
    );
    await device.online();
    await device.offline();
    m.clock.advance(offlineNoticeAfterMs + MINUTE);
    await waitFor(async () => ((await to()).includes('Your device unconfirmed-pi is offline') ? true : undefined), 'the notice, now');
  });
});
