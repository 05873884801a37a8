import { parseArgs } from 'node:util';
import { UsageError } from './cli-error.ts';
import type { ApiCommand, Command, ParsedArgs } from './command.ts';
import { findCommand, globalOptions, isGroup } from './command-table.ts';

/**
 * From argv to a command and its arguments. Global options may come before the command
 * (`p2pvps --server URL devices list`); everything else is parsed strictly with
 * node:util's parseArgs against the command's declared options.
 */

export type Resolution =
  /** No command word: `p2pvps`, `p2pvps --help`. */
  | { kind: 'none'; argv: string[] }
  /** A group word without a known subcommand: `p2pvps devices`. */
  | { kind: 'group'; group: string; argv: string[] }
  /** `before`: global options given ahead of the command words; `argv`: the rest. */
  | { kind: 'command'; command: Command; before: string[]; argv: string[] };

function takesValue(arg: string): boolean {
  const name = arg.replace(/^--?/, '');
  const spec = Object.entries(globalOptions).find(([long, s]) => long === name || s.short === name)?.[1];
  return spec?.type === 'string';
}

/** Index of the first positional in argv, skipping global options (and their values). */
function firstWord(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return -1;
    if (!arg.startsWith('-') || arg === '-') return i;
    if (!arg.includes('=') && takesValue(arg)) i++;
  }
  return -1;
}

export function resolveCommand(argv: readonly string[]): Resolution {
  const at = firstWord(argv);
  if (at === -1) return { kind: 'none', argv: [...argv] };
  const word = argv[at] ?? '';
  const before = argv.slice(0, at);
  const after = argv.slice(at + 1);

  // A command that has its own parser takes its subcommand right after it: `agent init`.
  const immediate = after[0] === undefined ? undefined : findCommand(`${word} ${after[0]}`);
  if (immediate?.kind === 'raw') return { kind: 'command', command: immediate, before, argv: after.slice(1) };

  if (isGroup(word) && !findCommand(word)) {
    const subAt = firstWord(after);
    if (subAt === -1) return { kind: 'group', group: word, argv: [...before, ...after] };
    const name = `${word} ${after[subAt]}`;
    const command = findCommand(name);
    if (!command) throw new UsageError(`unknown command "${name}"`, word);
    return { kind: 'command', command, before, argv: [...after.slice(0, subAt), ...after.slice(subAt + 1)] };
  }

  const command = findCommand(word);
  if (!command) throw new UsageError(`unknown command "${word}"`);
  return { kind: 'command', command, before, argv: after };
}

/** True when `--help` or `-h` appears before any `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Parses a command's arguments (global options included) and checks its positionals. */
export function parseCommandArgs(command: ApiCommand, argv: string[]): ParsedArgs {
  const specs = { ...globalOptions, ...command.options };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [
      name,
      { type: s.type, ...(s.short ? { short: s.short } : {}), ...('multiple' in s && s.multiple ? { multiple: true } : {}) },
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    // parseArgs explains in several sentences; the first says what is wrong.
    const message = err instanceof Error ? (err.message.split(/\.\s/)[0] ?? err.message) : String(err);
    throw new UsageError(message.replace(/\.$/, ''), command.name);
  }
  const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator');
  let positionals = parsed.positionals;
  let rest: string[] = [];
  if (command.passThrough && terminator) {
    positionals = parsed.tokens.flatMap((t) => (t.kind === 'positional' && t.index < terminator.index ? [t.value] : []));
    rest = argv.slice(terminator.index + 1);
  }

  const required = command.args.filter((a) => !a.endsWith('?'));
  if (positionals.length < required.length) {
    const missing = required.slice(positionals.length);
    throw new UsageError(`missing ${missing.join(' and ')}`, command.name);
  }
  if (positionals.length > command.args.length) {
    const extra = positionals[command.args.length];
    const hint = command.passThrough ? '; put a remote command after --' : '';
    throw new UsageError(`unexpected argument "${extra}"${hint}`, command.name);
  }
  return { positionals, values: parsed.values as ParsedArgs['values'], rest };
}
