import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOwner, runCli, testServer } from '../test-harness.ts';

test('admin federation: the operator sees the server key fingerprint and no peers; rotate-key makes a new one', async () => {
  const { operatorEnv, publicUrl } = await testServer();
  const shown = await runCli(['admin', 'federation'], { env: operatorEnv });
  assert.equal(shown.code, 0, shown.stderr);
  const fingerprint = /Fingerprint\s+(SHA256:[A-Za-z0-9+/]{43})/.exec(shown.stdout)?.[1];
  assert.ok(fingerprint, shown.stdout);
  assert.match(shown.stdout, new RegExp(`Server\\s+test-market \\(${publicUrl}\\)`));
  assert.match(shown.stdout, /No peers linked\. Link one: p2pvps admin federation link PEER_URL --fingerprint SHA256:\.\.\./);
  const rotated = await runCli(['admin', 'federation', 'rotate-key'], { env: operatorEnv });
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /^New key SHA256:\S+, signed by the old one/);
  assert.ok(!rotated.stdout.includes(fingerprint));
  const after = await runCli(['admin', 'federation'], { env: operatorEnv });
  assert.match(after.stdout, /Earlier keys\s+1/);
});

test('admin federation link: a peer that does not answer is refused; wrong words are usage errors; others cannot', async () => {
  const { operatorEnv, unusedPort } = await testServer();
  const unreachable = await runCli(
    ['admin', 'federation', 'link', `http://127.0.0.1:${unusedPort}`, '--fingerprint', `SHA256:${'A'.repeat(43)}`],
    { env: operatorEnv },
  );
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /Could not fetch http:\/\/127\.0\.0\.1:\d+\/\.well-known\/p2pvps-server/);
  const noFingerprint = await runCli(['admin', 'federation', 'link', 'http://127.0.0.1:1'], { env: operatorEnv });
  assert.equal(noFingerprint.code, 2);
  assert.match(noFingerprint.stderr, /--fingerprint SHA256:/);
  const unknownPeer = await runCli(['admin', 'federation', 'suspend', 'nobody'], { env: operatorEnv });
  assert.equal(unknownPeer.code, 2);
  assert.match(unknownPeer.stderr, /no linked peer is called "nobody"/);
  const badAction = await runCli(['admin', 'federation', 'befriend'], { env: operatorEnv });
  assert.equal(badAction.code, 2);
  const owner = await createOwner();
  assert.equal((await runCli(['admin', 'federation'], { env: owner.env })).code, 1);
});
