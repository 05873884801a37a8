import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away PostgreSQL for a test: Debian's `initdb` and `pg_ctl` on a temp directory,
 * listening on loopback only, trusting local connections (nothing but this machine can
 * reach it), stopped and removed by `stop()`. PostgreSQL refuses to run as root, so as root
 * it runs as the `postgres` user Debian's package makes (created here if missing).
 *
 * If P2PVPS_TEST_DATABASE names a postgres:// URL (a suite that started one already), that
 * database is used and left running.
 */
export interface TestPostgres {
  /** postgres://… of the database `p2pvps`. */
  url: string;
  port: number;
  /** Stops the server and removes its directory (not for a database from P2PVPS_TEST_DATABASE). */
  stop(): Promise<void>;
}

export const defaultTestPostgresPort = 55435;

/** The directory of Debian's PostgreSQL programs, newest version first. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

export async function startTestPostgres(options: { port?: number } = {}): Promise<TestPostgres> {
  const given = process.env.P2PVPS_TEST_DATABASE;
  if (given && /^postgres(ql)?:\/\//.test(given)) {
    return { url: given, port: Number(new URL(given).port || 5432), stop: async () => {} };
  }
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql (scripts/setup.sh does)');
  const port = options.port ?? defaultTestPostgresPort;
  const asRoot = process.getuid?.() === 0;
  if (asRoot && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'inherit' });
  }
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-pg-'));
  const data = join(dir, 'data');
  const run = (program: string, args: string[]) => {
    const argv = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, program), ...args] : [join(bin, program), ...args];
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr || result.stdout}`);
    return result.stdout;
  };
  const stop = async () => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (asRoot) {
      const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
      const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
      chownSync(dir, Number(ids), Number(gid));
    }
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    // Loopback only, a socket directory of its own (Debian's /var/run/postgresql may not exist), and
    // no fsync: a test's database is thrown away, and it must not wait on the disk.
    writeFileSync(
      join(data, 'postgresql.auto.conf'),
      `listen_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${dir}'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n`,
    );
    if (asRoot) spawnSync('chown', ['postgres:postgres', join(data, 'postgresql.auto.conf')]);
    run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
    run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE DATABASE p2pvps']);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/p2pvps`, port, stop };
}
