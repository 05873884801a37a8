import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { ManualClock } from '../domain/clock.ts';
import { renewAtLifetimeShare } from './server-certificate.ts';
import type { RunningServer } from './server.ts';
import { createTestCa } from '../testing/test-ca.ts';
import { freePortBlock, startTestServer, type TestServer } from '../testing/test-server.ts';

/**
 * The server gets and renews the certificate for its public name by itself, from a real
 * ACME CA: Debian's pebble (Let's Encrypt's test CA) on loopback, with its companion
 * pebble-challtestsrv as the DNS that says the name is 127.0.0.1. Pebble checks HTTP-01
 * on the server's HTTP front door, as Let's Encrypt would on port 80.
 */
const host = 'market.test';
const children: ChildProcess[] = [];
let dir: string;
let testServer: TestServer;
let server: RunningServer;
let clock: ManualClock;
let httpsPort: number;
let pebbleRoot: string;

function startChild(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  child.once('exit', (code) => {
    if (code !== null && code !== 0) console.error(`${cmd} exited with ${code}:\n${output}`);
  });
  children.push(child);
  return child;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(true));
      s.on('error', () => resolve(false));
      s.on('connect', () => s.destroy());
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pvps-acme-'));
  const ca = createTestCa(dir);
  // Pebble's own HTTPS (its directory) needs a certificate: one from a throw-away CA that the server is told to trust.
  const listener = ca.issue('pebble', ['127.0.0.1', 'localhost']);
  const base = await freePortBlock();
  const httpPort = base;
  httpsPort = base + 2;
  const [pebblePort, pebbleManagement, dnsPort, dnsManagement] = [base + 3, base + 4, base + 5, base + 6];
  startChild('pebble-challtestsrv', [
    '-defaultIPv4',
    '127.0.0.1',
    '-defaultIPv6',
    '',
    '-dns01',
    `127.0.0.1:${dnsPort}`,
    '-http01',
    '',
    '-https01',
    '',
    '-tlsalpn01',
    '',
    '-management',
    `127.0.0.1:${dnsManagement}`,
  ]);
  const pebbleConfig = join(dir, 'pebble.json');
  writeFileSync(
    pebbleConfig,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${pebblePort}`,
        managementListenAddress: `127.0.0.1:${pebbleManagement}`,
        certificate: listener.certFile,
        privateKey: listener.keyFile,
        // Where pebble checks HTTP-01: the server's HTTP front door (port 80 in real life).
        httpPort,
        tlsPort: base + 7,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  startChild('pebble', ['-config', pebbleConfig, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
  });
  await waitForPort(dnsManagement);
  await waitForPort(pebblePort);
  await waitForPort(pebbleManagement);
  pebbleRoot = await new Promise<string>((resolve, reject) => {
    execFile('curl', ['-sSf', '--cacert', ca.caFile, `https://127.0.0.1:${pebbleManagement}/roots/0`], (err, out) =>
      err ? reject(err) : resolve(out),
    );
  });

  clock = new ManualClock(new Date());
  testServer = await startTestServer(
    'acme',
    {
      P2PVPS_PUBLIC_URL: `https://${host}:${httpsPort}`,
      P2PVPS_ACME_DIRECTORY_URL: `https://127.0.0.1:${pebblePort}/dir`,
      P2PVPS_ACME_CA_FILE: ca.caFile,
      P2PVPS_ACME_EMAIL: 'operator@example.org',
      P2PVPS_TLS_CHECK_INTERVAL_MS: '100',
    },
    { clock, base },
  );
  server = testServer.server;
});

after(async () => {
  await testServer?.stop();
  for (const child of children) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** The certificate the HTTPS door presents for the public name, verified against pebble's root; null while it has none. */
function served(): Promise<tls.PeerCertificate | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: host, ca: pebbleRoot }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', () => resolve(null));
  });
}

async function waitForCertificate(unlike?: string): Promise<tls.PeerCertificate> {
  for (let i = 0; i < 300; i++) {
    const cert = await served();
    if (cert && cert.fingerprint256 !== unlike) return cert;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the HTTPS front door never presented a (new) certificate from pebble');
}

test('the server orders a certificate for its public name over ACME HTTP-01 and serves the API with it', async () => {
  const cert = await waitForCertificate();
  assert.match(cert.subjectaltname ?? '', new RegExp(`DNS:${host.replace('.', '\\.')}`));
  const rootFile = join(dir, 'pebble-root.pem');
  writeFileSync(rootFile, pebbleRoot);
  const r = await new Promise<{ out: string; err: string }>((resolve) =>
    execFile(
      'curl',
      [
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        rootFile,
        '--resolve',
        `${host}:${httpsPort}:127.0.0.1`,
        `https://${host}:${httpsPort}/api/v1/server`,
      ],
      (_err, out, err) => resolve({ out, err }),
    ),
  );
  assert.equal(JSON.parse(r.out).publicUrl, `https://${host}:${httpsPort}`, r.err);
});

test('the certificate is kept across restarts and renewed at 2/3 of its lifetime', async () => {
  const first = await waitForCertificate();
  server = await testServer.restart();
  const again = await waitForCertificate();
  assert.equal(again.fingerprint256, first.fingerprint256, 'a restart reuses the stored certificate');

  const notBefore = new Date(first.valid_from).getTime();
  const lifetime = new Date(first.valid_to).getTime() - notBefore;
  // Just short of the renewal point nothing is ordered; a few checks run meanwhile.
  clock.advance(notBefore + lifetime * renewAtLifetimeShare - clock.now().getTime() - 60_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await served())?.fingerprint256, first.fingerprint256);

  clock.advance(120_000);
  const renewed = await waitForCertificate(first.fingerprint256);
  assert.ok(new Date(renewed.valid_to) > new Date(first.valid_to), 'the new certificate lasts longer');
  const stored = new X509Certificate(readFileSync(join(testServer.dataDir, 'tls', 'cert.pem')));
  assert.equal(stored.fingerprint256, renewed.fingerprint256, 'the renewed certificate is what the next start loads');
});
