import { UsageError } from './cli-error.ts';
import { MoneyFormatError, parseMoney } from '@p2pvps/protocol/money';
import type { Env } from './config.ts';
import type { Context } from './context.ts';

/** The shape of one command in the command table; help and parsing are generated from it. */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given more than once (`--set A=1 --set B=2`); its value is then a list. */
  multiple?: boolean;
  /** Placeholder shown in help for a string option's value, e.g. `FILE`. */
  value?: string;
  description: string;
}

export interface ParsedArgs {
  /** Positional arguments, checked against the command's `args`. */
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  /** Words after `--` (only for commands with `passThrough`). */
  rest: string[];
}

/**
 * Who a command is for; `p2pvps --help` lists the commands under these headings, in this
 * order. Every command must name one, so a new command cannot be left out of the list.
 */
export const commandGroups = ['Renting', 'Owning devices', 'Running a device', 'Account', 'Operating a server'] as const;
export type CommandGroup = (typeof commandGroups)[number];

interface CommandBase {
  /** One or two words: `rent`, `devices add`. */
  name: string;
  /** The heading `p2pvps --help` lists it under (not the first word of `devices add`). */
  group: CommandGroup;
  /** One line for the command list. */
  summary: string;
  /** Everything after `p2pvps `, e.g. `devices price DEVICE PRICE`. */
  usage: string;
  /** Paragraphs shown under the usage line in `--help`. */
  description?: string;
}

export interface ApiCommand extends CommandBase {
  kind: 'api';
  /** Positional argument names; a trailing `?` marks one optional. */
  args: readonly string[];
  options: Record<string, OptionSpec>;
  /** Collects words after `--` into `rest` (ssh's remote command). */
  passThrough?: boolean;
  run(ctx: Context, args: ParsedArgs): Promise<number | void>;
}

/** Commands that parse their own arguments and own their `--help` (server, agent). */
export interface RawCommand extends CommandBase {
  kind: 'raw';
  run(argv: string[], env: Env): Promise<number | void>;
}

export type Command = ApiCommand | RawCommand;

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function booleanOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** The n-th positional; the parser has already checked the required ones are there. */
export function positional(args: ParsedArgs, index: number): string {
  const value = args.positionals[index];
  if (value === undefined) throw new Error(`positional ${index} missing after validation`);
  return value;
}

/** Parses a whole number option such as `--hours 3`. */
export function integerOption(args: ParsedArgs, name: string, command: string, min = 0): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}, not "${text}"`, command);
  }
  return Number(text);
}

/** The n-th positional as an amount of money in micro-units; a malformed one is a usage error naming `name`. */
export function moneyPositional(args: ParsedArgs, index: number, name: string, command: string): number {
  try {
    return parseMoney(positional(args, index));
  } catch (err) {
    if (err instanceof MoneyFormatError) throw new UsageError(`${name} ${err.message}`, command);
    throw err;
  }
}
