import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { commands } from './command-table.ts';
import { runCli } from './test-harness.ts';

const bin = fileURLToPath(new URL('../bin/p2pvps', import.meta.url));

for (const command of commands.filter((c) => c.kind === 'api')) {
  test(`p2pvps ${command.name} --help shows its usage`, async () => {
    // Offline: help never needs the server.
    const result = await runCli([...command.name.split(' '), '--help'], { offline: true });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.startsWith(`Usage: p2pvps ${command.usage}\n`), result.stdout);
    assert.match(result.stdout, /--server URL/);
  });
}

/** The command names `p2pvps --help` lists under each heading, in the order shown. */
function sections(help: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const block of help.split('\n\n')) {
    const [heading, ...rows] = block.split('\n');
    if (!heading?.endsWith(':') || heading === 'Global options:') continue;
    found.set(
      heading.slice(0, -1),
      rows.map((row) => row.trim().split(/ {2,}/)[0]!),
    );
  }
  return found;
}

test('p2pvps --help lists every command with its summary', async () => {
  const result = await runCli(['--help'], { offline: true });
  assert.equal(result.code, 0);
  for (const command of commands) {
    assert.match(result.stdout, new RegExp(`^  ${command.name} +${command.summary.replace(/[.()]/g, '\\$&')}$`, 'm'));
  }
});

test('p2pvps --help groups the commands by who uses them, each command once', async () => {
  const result = await runCli(['--help'], { offline: true });
  const shown = sections(result.stdout);
  assert.deepEqual([...shown.keys()], ['Renting', 'Owning devices', 'Running a device', 'Account', 'Operating a server']);
  const renting = shown.get('Renting')!;
  for (const name of ['market', 'rent', 'rentals', 'stop', 'ssh', 'balance', 'topup', 'statement']) assert.ok(renting.includes(name), name);
  assert.ok(shown.get('Owning devices')!.includes('devices add'));
  assert.ok(shown.get('Owning devices')!.includes('payout request'));
  assert.deepEqual(shown.get('Running a device'), ['agent init', 'agent']);
  assert.deepEqual([...shown.get('Account')!].sort(), ['login', 'logout', 'settings', 'signup', 'whoami']);
  assert.ok(shown.get('Operating a server')!.includes('admin credit'));
  assert.ok(shown.get('Operating a server')!.includes('server'));
  const listed = [...shown.values()].flat();
  assert.deepEqual(listed.sort(), commands.map((c) => c.name).sort(), 'every command appears exactly once');
});

test('p2pvps devices --help lists only the devices commands', async () => {
  const result = await runCli(['devices', '--help'], { offline: true });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /devices price +Set a device's price per hour/);
  assert.doesNotMatch(result.stdout, /rentals/);
});

test('an unknown command exits 2 with a pointer to --help', async () => {
  const result = await runCli(['frobnicate'], { offline: true });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `error [usage]: unknown command "frobnicate"\n  Run 'p2pvps --help' for usage.\n`);
});

test('a group without a subcommand exits 2 and names the subcommands', async () => {
  const result = await runCli(['devices'], { offline: true });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /"devices" needs a subcommand: add, list, price, offer, market, remove/);
  assert.match(result.stderr, /p2pvps devices --help/);
});

test('bin/p2pvps runs from another directory: help exits 0, an unknown command exits 2', () => {
  const help = spawnSync(bin, ['rent', '--help'], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: p2pvps rent DEVICE/);
  const unknown = spawnSync(bin, ['nope'], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^error \[usage\]: unknown command "nope"/);
});
