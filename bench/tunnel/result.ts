/** What the tunnel bench measured, for the report. */
import { median } from './net.ts';

export type PathId = 'raw' | 'openssh' | 'p2pvps';
export const pathNames: Record<PathId, string> = { raw: 'raw loopback', openssh: 'OpenSSH -R', p2pvps: 'p2pvps' };

/** One measured quantity in one round, with a value per path that has one. */
export interface Figure {
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  values: Partial<Record<PathId, number>>;
}

/** A figure over every round: the median per path, and each round's value. */
export interface RoundedFigure extends Figure {
  rounds: Partial<Record<PathId, number[]>>;
}

/** A figure that explains others but is not compared across paths (e.g. the tunnel without the front door). */
export interface Extra {
  metric: string;
  value: number;
  unit: string;
}

export interface RoundedExtra extends Extra {
  rounds: number[];
}

/** What one round measured. */
export interface Round {
  figures: Figure[];
  extra: Extra[];
  /** Share of all CPUs busy with other work just before the round. */
  busyBefore: number;
}

export interface Target {
  name: string;
  met: boolean;
  /** The figures it was judged on, in words. */
  detail: string;
}

export interface TunnelBenchResult {
  /** Medians over the rounds, with every round's value. */
  figures: RoundedFigure[];
  targets: Target[];
  /** How it was measured, one line each (versions, ciphers, wrk settings, routes). */
  method: string[];
  extra: RoundedExtra[];
  rounds: number;
  openSshVersion: string;
}

/** Every round's figures side by side, each with its median; a figure missing from a round is NaN there. */
export function combineRounds(rounds: readonly Round[]): { figures: RoundedFigure[]; extra: RoundedExtra[] } {
  const figures: RoundedFigure[] = [];
  for (const first of rounds[0]?.figures ?? []) {
    const perPath: Partial<Record<PathId, number[]>> = {};
    for (const path of Object.keys(first.values) as PathId[])
      perPath[path] = rounds.map((r) => r.figures.find((f) => f.metric === first.metric)?.values[path] ?? Number.NaN);
    const values = Object.fromEntries(Object.entries(perPath).map(([p, v]) => [p, median(v)])) as Figure['values'];
    figures.push({ ...first, values, rounds: perPath });
  }
  const extra = (rounds[0]?.extra ?? []).map((first) => {
    const all = rounds.map((r) => r.extra.find((e) => e.metric === first.metric)?.value ?? Number.NaN);
    return { ...first, value: median(all), rounds: all };
  });
  return { figures, extra };
}

/**
 * A path's figure divided by the same figure for `base`, taken within each round (both
 * measured minutes apart, so background load on a shared machine falls on both alike):
 * the median of those ratios and their spread.
 */
export function roundRatios(figure: RoundedFigure, path: PathId, base: PathId): { median: number; min: number; max: number } {
  const a = figure.rounds[path] ?? [];
  const b = figure.rounds[base] ?? [];
  const ratios = a.map((v, i) => v / b[i]!).filter((r) => Number.isFinite(r));
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}
