/**
 * `npm run bench`: every benchmark in one run, written up in docs/benchmarks.md.
 *
 *   1. a loud check that ssh2's native crypto binding is built (scripts/check-native.mjs);
 *   2. tunnel performance: raw loopback, stock OpenSSH and p2pvps side by side (bench/tunnel.ts);
 *   3. idle tunnels: memory and CPU per idle tunnel, and recovery after a server restart
 *      (bench/idle-tunnels.ts, when present).
 *
 * Only loopback is used. Takes under ten minutes on a 2-core machine.
 *
 * Flags: --rounds N (default 3; the same as BENCH_ROUNDS): every tunnel figure is the median of
 * N rounds, with the spread and each round shown; --no-idle skips the idle-tunnel part and
 * keeps that section of docs/benchmarks.md as it was. Sections of docs/benchmarks.md that
 * this bench does not write (metering, rent to first SSH command, profiles...) are kept.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runTunnelBench } from './tunnel.ts';
import { benchmarksMarkdown, describeMachine, idleTable, keepOtherSections, printTunnelResult, type IdleRowLike } from './report.ts';

const { values: flags } = parseArgs({ options: { rounds: { type: 'string' }, 'no-idle': { type: 'boolean' } } });
if (flags.rounds !== undefined) {
  if (!/^[1-9]\d*$/.test(flags.rounds)) throw new Error(`--rounds must be a whole number of at least 1, not ${flags.rounds}`);
  process.env.BENCH_ROUNDS = flags.rounds;
}

const root = new URL('../', import.meta.url);
const native = spawnSync(process.execPath, [fileURLToPath(new URL('scripts/check-native.mjs', root))], { stdio: 'inherit' });
if (native.status !== 0) process.exit(native.status ?? 1);

const started = Date.now();
const machine = describeMachine();
const tunnel = await runTunnelBench();
printTunnelResult(tunnel);
console.error(`[bench] tunnel part took ${((Date.now() - started) / 1000).toFixed(0)} s`);

const idle = flags['no-idle'] ? { skipped: 'not run (--no-idle)' } : await runIdle();
if ('rows' in idle) console.log(`\nIdle tunnels\n\n${idleTable(idle.rows)}\n`);
else console.log(`\nIdle tunnels: ${idle.skipped}\n`);

const doc = fileURLToPath(new URL('docs/benchmarks.md', root));
const previous = existsSync(doc) ? readFileSync(doc, 'utf8') : '';
writeFileSync(doc, keepOtherSections(benchmarksMarkdown(machine, tunnel, idle, new Date()), previous, 'rows' in idle));
console.error(`[bench] wrote ${doc}; everything took ${((Date.now() - started) / 1000).toFixed(0)} s`);

/** The idle-tunnel bench, written separately: run when its module is there. */
async function runIdle(): Promise<{ rows: IdleRowLike[] } | { skipped: string }> {
  const module = new URL('./idle-tunnels.ts', import.meta.url);
  if (!existsSync(module)) return { skipped: 'not run: bench/idle-tunnels.ts is not in this tree.' };
  // A computed specifier: this file type-checks whether or not that module exists yet.
  const { runIdleTunnelBench } = (await import(module.href)) as { runIdleTunnelBench(): Promise<IdleRowLike[]> };
  const t0 = Date.now();
  const rows = await runIdleTunnelBench();
  console.error(`[bench] idle-tunnel part took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { rows };
}
