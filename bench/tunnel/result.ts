/** What the tunnel bench measured, for the report. */

export type PathId = 'raw' | 'openssh' | 'p2pvps';
export const pathNames: Record<PathId, string> = { raw: 'raw loopback', openssh: 'OpenSSH -R', p2pvps: 'p2pvps' };

/** One measured quantity, with a value per path that has one. */
export interface Figure {
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  values: Partial<Record<PathId, number>>;
}

export interface Target {
  name: string;
  met: boolean;
  /** The figures it was judged on, in words. */
  detail: string;
}

export interface TunnelBenchResult {
  figures: Figure[];
  targets: Target[];
  /** How it was measured, one line each (versions, ciphers, wrk settings, routes). */
  method: string[];
  /** Figures that explain others but are not compared (e.g. the tunnel without the front door). */
  extra: { metric: string; value: number; unit: string }[];
  openSshVersion: string;
}
