import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pathNames, roundRatios, type PathId, type TunnelBenchResult } from './tunnel/result.ts';

/** A row of the idle-tunnel bench (bench/idle-tunnels.ts), as far as this report relies on it. */
export interface IdleRowLike {
  metric: string;
  path: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
  note?: string;
}

/** A Markdown table padded to line up in a terminal as well. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  // Prettier's own form, so the written docs pass `npm run format` as they are.
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'ms' || unit === 'CPU-s') return value < 10 ? value.toFixed(2) : value.toFixed(1);
  return Math.round(value).toLocaleString('en-US');
}

const ratio = (a: number, b: number | undefined) => (b && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : '—');

/** Lowest–highest of a figure's rounds. */
function spread(values: readonly number[], unit: string): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2) return '';
  return `${formatValue(Math.min(...finite), unit)}–${formatValue(Math.max(...finite), unit)}`;
}

export function resultsTable(result: TunnelBenchResult): string {
  const rows: string[][] = [];
  const roundHeads = Array.from({ length: result.rounds }, (_, i) => `R${i + 1}`);
  for (const f of result.figures) {
    for (const path of ['raw', 'openssh', 'p2pvps'] as PathId[]) {
      const v = f.values[path];
      if (v === undefined) continue;
      const all = f.rounds[path] ?? [];
      const vs = (base: PathId) => {
        if (path === base || f.values[base] === undefined) return path === base ? '1.00×' : '—';
        const r = roundRatios(f, path, base);
        return result.rounds > 1 ? `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})` : `${r.median.toFixed(2)}×`;
      };
      rows.push([
        `${f.metric} (${f.unit})`,
        pathNames[path],
        formatValue(v, f.unit),
        spread(all, f.unit),
        ...roundHeads.map((_, i) => formatValue(all[i] ?? Number.NaN, f.unit)),
        vs('openssh'),
        vs('raw'),
      ]);
    }
  }
  return table(['Metric', 'Path', 'Median', 'Spread', ...roundHeads, '÷ OpenSSH', '÷ raw'], rows, [
    false,
    false,
    true,
    true,
    ...roundHeads.map(() => true),
    true,
    true,
  ]);
}

export function targetsTable(result: TunnelBenchResult): string {
  return table(
    ['Target (p2pvps, same run)', 'Measured', 'Result'],
    result.targets.map((t) => [t.name, t.detail, t.met ? 'met' : 'NOT MET']),
  );
}

export function extraTable(result: TunnelBenchResult): string {
  const roundHeads = Array.from({ length: result.rounds }, (_, i) => `R${i + 1}`);
  return table(
    ['Also measured', 'Unit', 'Median', 'Spread', ...roundHeads],
    result.extra.map((e) => [
      e.metric,
      e.unit,
      formatValue(e.value, e.unit),
      spread(e.rounds, e.unit),
      ...roundHeads.map((_, i) => formatValue(e.rounds[i] ?? Number.NaN, e.unit)),
    ]),
    [false, false, true, true, ...roundHeads.map(() => true)],
  );
}

export function idleTable(rows: readonly IdleRowLike[]): string {
  return table(
    ['Metric', 'Path', 'Value', 'Target', 'Result', 'Note'],
    rows.map((r) => [
      r.metric,
      r.path,
      `${Number.isFinite(r.value) ? r.value : 'n/a'} ${r.unit}`,
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'met' : 'NOT MET',
      r.note ?? '',
    ]),
    [false, false, true],
  );
}

export function printTunnelResult(result: TunnelBenchResult): void {
  console.log(
    `\nTunnel performance, ${result.rounds} round${result.rounds === 1 ? '' : 's'}: median, spread (lowest–highest), every round; ratios taken within each round, median (spread)\n`,
  );
  console.log(resultsTable(result));
  if (result.extra.length) console.log(`\n${extraTable(result)}`);
  console.log(`\n${targetsTable(result)}\n`);
}

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  node: string;
  openssh: string;
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openssh: spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
  };
}

export function benchmarksMarkdown(
  machine: Machine,
  tunnel: TunnelBenchResult,
  idle: { rows: readonly IdleRowLike[] } | { skipped: string },
  when: Date,
): string {
  return `# Benchmarks

Written by \`npm run bench\` (bench/index.ts) on ${when.toISOString().slice(0, 10)}; run it again to refresh
this page. Everything runs on one machine over 127.0.0.1.

## Machine

- CPU: ${machine.cpu}, ${machine.cores} cores
- Memory: ${machine.memory}
- Kernel: ${machine.kernel}
- Node: ${machine.node}
- OpenSSH: ${machine.openssh}

## Tunnel performance

Three paths to the same origins, measured one after another in the same run:

- **raw loopback**: client → origin, the physical limit of this machine.
- **OpenSSH -R**: client → stock sshd's forwarded port → \`ssh -N -R\` → origin, the standard tool.
- **p2pvps**: client → the server's public port for the device (HTTP: the HTTP front door, by Host) →
  tunnel gateway → the agent's tunnel client → origin.

### Method

${tunnel.method.map((m) => `- ${m}`).join('\n')}

### Results

Each figure is the median of ${tunnel.rounds} rounds, then the spread (lowest–highest) and every
round's value (R1, R2, …). Ratios divide a path's figure by the same figure for OpenSSH and for
raw loopback within each round, then take the median of those ratios (their spread in
parentheses); for milliseconds and CPU, lower is better.

${resultsTable(tunnel)}
${tunnel.extra.length ? `\n${extraTable(tunnel)}\n` : ''}
### Targets

${targetsTable(tunnel)}

## Idle tunnels

${'rows' in idle ? `${idleTable(idle.rows)}\n\n${idleNotes(idle.rows)}` : idle.skipped}
`;
}

/** What the idle-tunnel table shows and how the bench sets it up, with this run's figures. */
export function idleNotes(rows: readonly IdleRowLike[]): string {
  const row = (start: string) => rows.find((r) => r.metric.startsWith(start) && r.path === 'p2pvps');
  const figure = (r: IdleRowLike | undefined) => (r && Number.isFinite(r.value) ? `${r.value} ${r.unit}` : 'n/a');
  const perTunnel = rows.find(
    (r) => /^server memory per idle tunnel \(RSS\) @\d+$/.test(r.metric) && r.path === 'p2pvps' && !r.metric.endsWith('@1000'),
  );
  const back = row('all ');
  const peak = row('peak tunnel handshake rate');
  return `Each idle device holds one connection to the server, its tunnel, and inside it the nudge
channel the gateway opens, which these devices take as the agent does
(\`bench/idle-tunnels/device-process.ts\`): the server holds one socket per online device
(the agents' event stream, a second socket each, is gone). Per idle tunnel ${perTunnel ? `at ${perTunnel.metric.split('@')[1]}` : ''}:
${figure(perTunnel)} of server memory in this run (issue 15: at most 20 KB). The simulated
devices all dial from 127.0.0.1, so the bench raises the gateway's per-source handshake cap
and turns its per-source penalties off (\`P2PVPS_GATEWAY_PENALTIES=off\`: real devices each
have an address of their own; with them on, the one shared address is refused for all of
them at once after the restart). After the restart the tunnels come back at the rate this
2-core machine completes handshakes with the server and the three device processes sharing
it (at most ${peak && Number.isFinite(peak.value) ? peak.value : 'n/a'} a second; real devices do their side of each handshake on their own CPUs):
all back in ${figure(back)} in this run.`;
}

/** The `## ` sections of a Markdown page, by title, in order; what precedes the first is under ''. */
function sections(markdown: string): { title: string; text: string }[] {
  return markdown.split(/^(?=## )/m).map((text) => ({ title: /^## (.+)$/m.exec(text)?.[1]?.trim() ?? '', text }));
}

/**
 * The freshly written page, with the sections of the previous page that this bench does not
 * write appended as they were (other benchmarks' write-ups, the profiles' findings), and the
 * previous idle-tunnel section kept when that part was not run.
 */
export function keepOtherSections(fresh: string, previous: string, idleWasRun: boolean): string {
  const written = sections(fresh);
  const old = sections(previous);
  const out = written.map((s) => (s.title === 'Idle tunnels' && !idleWasRun ? (old.find((o) => o.title === s.title) ?? s) : s));
  const kept = old.filter((o) => o.title !== '' && !written.some((w) => w.title === o.title));
  return [...out, ...kept].map((s) => s.text.replace(/\n*$/, '\n')).join('\n');
}
