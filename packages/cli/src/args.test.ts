import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandArgs, resolveCommand, wantsHelp } from './args.ts';
import { UsageError } from './cli-error.ts';
import type { ApiCommand } from './command.ts';

/** Resolves and parses like `run` does, for an API command. */
function parse(argv: string[]) {
  const resolved = resolveCommand(argv);
  assert.equal(resolved.kind, 'command');
  if (resolved.kind !== 'command' || resolved.command.kind !== 'api') throw new Error('not an API command');
  return {
    name: resolved.command.name,
    ...parseCommandArgs(resolved.command as ApiCommand, [...resolved.before, ...resolved.argv]),
  };
}

test('ssh RENTAL -- uname -a keeps the remote command apart', () => {
  const args = parse(['ssh', 'rent000001', '--', 'uname', '-a']);
  assert.equal(args.name, 'ssh');
  assert.deepEqual(args.positionals, ['rent000001']);
  assert.deepEqual(args.rest, ['uname', '-a']);
});

test('ssh passes options after -- to the remote command, not to itself', () => {
  const args = parse(['ssh', '-i', 'key', 'rent000001', '--', 'ls', '--help', '--', 'x']);
  assert.equal(args.values.identity, 'key');
  assert.deepEqual(args.rest, ['ls', '--help', '--', 'x']);
  assert.equal(wantsHelp(['ssh', 'rent000001', '--', 'ls', '--help']), false);
});

test('ssh without -- says where a remote command goes', () => {
  assert.throws(
    () => parse(['ssh', 'rent000001', 'uname']),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.message, 'unexpected argument "uname"; put a remote command after --');
      assert.equal(err.helpCommand, 'ssh');
      return true;
    },
  );
});

test('global options may come before the command and between group and subcommand', () => {
  const args = parse(['--server', 'http://x:1', 'devices', '--json', 'price', 'kitchen-pi', '0.05']);
  assert.equal(args.name, 'devices price');
  assert.deepEqual(args.positionals, ['kitchen-pi', '0.05']);
  assert.equal(args.values.server, 'http://x:1');
  assert.equal(args.values.json, true);
});

test('market options are parsed as declared', () => {
  const args = parse(['market', '--sort', 'memory', '--desc', '--max-price=0.10', '--min-memory', '2G']);
  assert.deepEqual(args.positionals, []);
  assert.equal(args.values.sort, 'memory');
  assert.equal(args.values.desc, true);
  assert.equal(args.values['max-price'], '0.10');
  assert.equal(args.values['min-memory'], '2G');
});

test('missing and extra positionals are usage errors naming them', () => {
  assert.throws(() => parse(['devices', 'price', 'kitchen-pi']), /missing PRICE/);
  assert.throws(() => parse(['devices', 'price']), /missing DEVICE and PRICE/);
  assert.throws(() => parse(['stop', 'a', 'b']), /unexpected argument "b"/);
  assert.throws(() => parse(['rentals', '--bogus']), /Unknown option '--bogus'/);
});

test('agent init is told apart from agent, and both keep their raw arguments', () => {
  const init = resolveCommand(['agent', 'init', '--server', 'http://x', '--token', 't']);
  assert.ok(init.kind === 'command');
  assert.equal(init.command.name, 'agent init');
  assert.deepEqual(init.argv, ['--server', 'http://x', '--token', 't']);
  const agent = resolveCommand(['agent', '--help']);
  assert.ok(agent.kind === 'command');
  assert.equal(agent.command.name, 'agent');
  assert.deepEqual(agent.argv, ['--help']);
});

test('unknown commands and subcommands are usage errors', () => {
  assert.throws(() => resolveCommand(['frobnicate']), /unknown command "frobnicate"/);
  assert.throws(() => resolveCommand(['devices', 'frobnicate']), /unknown command "devices frobnicate"/);
  assert.deepEqual(resolveCommand(['devices']), { kind: 'group', group: 'devices', argv: [] });
});
