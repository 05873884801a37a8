import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { relayIntoNetns, type NetnsRelay } from '../scripts/netns-relay.ts';
import { portBlock } from './harness.ts';

/**
 * The quick start's relay (scripts/netns-relay.ts): a client inside a network namespace
 * the test makes reaches a server on this namespace's loopback, both ways, and nothing
 * listens inside once the relay is closed.
 */

const netns = `p2pvps-relay-${process.pid}`;
const netnsPath = `/var/run/netns/${netns}`;
const port = portBlock(1);
let echo: Server;
let relay: NetnsRelay | undefined;

/** Sends `text` to 127.0.0.1:port from inside the namespace and prints what comes back (not blocking: the relay is in this process). */
function fromInside(text: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const client = `const s = require('node:net').connect(${port}, '127.0.0.1', () => s.end(${JSON.stringify(text)}));
let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => process.stdout.write(got));
s.on('error', (e) => { console.error(e.code); process.exit(1); });`;
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', client], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

before(async () => {
  execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  echo = createServer((s) => {
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => s.end(`echo: ${got}`));
  });
  await new Promise<void>((resolve) => echo.listen(port, '127.0.0.1', resolve));
});

after(() => {
  relay?.close();
  echo?.close();
  spawnSync('ip', ['netns', 'del', netns]);
});

test('a client inside the namespace reaches a loopback server outside through the relay, and not once it is closed', async () => {
  const before = await fromInside('hello');
  assert.notEqual(before.status, 0, 'without the relay nothing listens inside');
  assert.match(before.stderr, /ECONNREFUSED/);

  relay = await relayIntoNetns(netnsPath, [port]);
  const through = await fromInside('hello');
  assert.equal(through.status, 0, through.stderr);
  assert.equal(through.stdout, 'echo: hello');

  relay.close();
  relay = undefined;
  assert.match((await fromInside('again')).stderr, /ECONNREFUSED/);
});
