import { spawn } from 'node:child_process';

/**
 * Runs Debian's `ssh-audit` (a third-party SSH server auditor) against a server on
 * loopback and sorts its findings. Exit codes of ssh-audit 2.5 (exitcodes.py): 0 good,
 * 1 connection error, 2 warnings, 3 failures.
 */
export interface SshAuditResult {
  code: number | null;
  /** Lines ssh-audit marks `[fail]`, e.g. `(kex) ecdh-sha2-nistp256 -- [fail] using weak elliptic curves`. */
  failures: string[];
  /** Lines it marks `[warn]`, as `ALGORITHM: reason`. */
  warnings: string[];
  output: string;
}

export function sshAudit(port: number, host = '127.0.0.1'): Promise<SshAuditResult> {
  return new Promise((resolve, reject) => {
    // -n: no colours; -b: one finding per line, so continuation lines name their algorithm too.
    const child = spawn('ssh-audit', ['-n', '-b', '-t', '10', '-p', String(port), host], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => reject(new Error(`ssh-audit could not run (scripts/setup.sh installs it): ${err.message}`)));
    child.on('close', (code) => {
      const findings = (level: string) =>
        output
          .split('\n')
          .filter((line) => line.includes(`[${level}]`))
          .map((line) => {
            const m = /^\(\w+\)\s+(\S+)\s+--\s+\[\w+\]\s+(.*)$/.exec(line.trim());
            return m ? `${m[1]}: ${m[2]}` : line.trim();
          });
      resolve({ code, failures: findings('fail'), warnings: findings('warn'), output });
    });
  });
}

/**
 * Warnings we accept, by name. Both come from this ssh-audit (2.5, Debian bookworm) being
 * older than what it audits; newer releases no longer warn about either.
 * - `kex-strict-s-v00@openssh.com`: OpenSSH's strict key exchange (the Terrapin
 *   countermeasure), a marker rather than an algorithm, which 2.5 does not know.
 * - `sntrup761x25519-sha512@openssh.com`: OpenSSH's post-quantum hybrid key exchange,
 *   its default since 9.0; 2.5 still calls it experimental.
 */
export const acceptedSshAuditWarnings: readonly string[] = [
  'kex-strict-s-v00@openssh.com: unknown algorithm',
  'sntrup761x25519-sha512@openssh.com: using experimental algorithm',
];
