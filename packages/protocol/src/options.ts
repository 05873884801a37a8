import { z } from 'zod';

/**
 * Declarative option tables for the long-running parts (server, agent). Each option is
 * declared once — name, flag, env var, default, description, schema — and parsed from
 * flags, then env, then the default. Every problem is collected, so a bad start reports
 * all of them at once.
 */
export interface OptionSpec<S extends z.ZodType = z.ZodType> {
  flag: string;
  env: string;
  description: string;
  schema: S;
  /** A literal default, or one computed from other (already-parsed) options. */
  default?: string | ((values: Record<string, unknown>) => string | undefined);
  secret?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;
export type OptionValues<T extends OptionTable> = { [K in keyof T]: z.output<T[K]['schema']> };

export class OptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'OptionsError';
  }
}

/**
 * Checks that span several options (a feature switched on needs its settings). It sees the
 * values that parsed, even when others did not, so its problems are reported with theirs.
 */
export type OptionsCheck = (values: Partial<Record<string, unknown>>) => string[];

export function parseOptions<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  env: Record<string, string | undefined>,
  check?: OptionsCheck,
): OptionValues<T> {
  const problems: string[] = [];
  const fromFlags = new Map<string, string>();
  const byFlag = new Map(Object.entries(table).map(([name, spec]) => [spec.flag, name]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const name = byFlag.get(flag);
    if (!name) {
      problems.push(`unknown option --${flag} (see --help)`);
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) problems.push(`--${flag} needs a value`);
    else fromFlags.set(name, value);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const fromEnv = env[spec.env];
    let raw = fromFlags.get(name) ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
    const fallback = spec.default;
    if (raw === undefined) {
      if (typeof fallback !== 'function') raw = fallback;
      // A default derived from options that failed would only repeat their problem.
      else if (problems.length) continue;
      else raw = fallback(values);
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else {
      const shown = spec.secret || raw === undefined ? '' : ` (got "${raw}")`;
      problems.push(`--${spec.flag} / ${spec.env}: ${parsed.error.issues[0]?.message ?? 'invalid'}${shown}`);
    }
  }
  if (check) problems.push(...check(values));
  if (problems.length) throw new OptionsError(problems);
  return values as OptionValues<T>;
}

export function formatOptionsHelp(table: OptionTable): string {
  return Object.values(table)
    .map((s) => {
      const def = typeof s.default === 'string' ? ` (default: ${s.default || '""'})` : s.default ? ' (default: derived)' : '';
      return `  --${s.flag.padEnd(24)} ${s.env.padEnd(34)} ${s.description}${def}`;
    })
    .join('\n');
}

/** Schemas that read option strings. */
export const opt = {
  string: () => z.string({ error: 'is required' }),
  port: () => z.coerce.number({ error: 'is required' }).int('must be a whole number').min(0).max(65535),
  positiveInt: () => z.coerce.number({ error: 'is required' }).int('must be a whole number').positive(),
  nonNegativeInt: () => z.coerce.number({ error: 'is required' }).int('must be a whole number').min(0),
  url: () => z.string({ error: 'is required' }).url('must be a URL like http://127.0.0.1:8080'),
  portRange: () =>
    z
      .string({ error: 'is required' })
      .regex(/^\d+-\d+$/, 'must look like 20000-20999')
      .transform((s) => s.split('-').map(Number) as [number, number])
      .refine(([lo, hi]) => lo >= 1024 && hi <= 65535 && lo <= hi, 'must be a range inside 1024-65535, low to high'),
  enum: <const V extends readonly [string, ...string[]]>(values: V) => z.enum(values),
  bool: () => z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v)),
};
