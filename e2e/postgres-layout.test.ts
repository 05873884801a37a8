import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The production layout's database scripts (docs/production.md), for real, on two
 * PostgreSQL clusters on loopback run by Debian's binaries as the `postgres` user:
 * deploy/p2pvps-make-replica.sh turns the second into a streaming replica of the first
 * (pg_basebackup through a slot, password authentication over TCP), a row written on the
 * primary shows up on the replica, deploy/p2pvps-backup.sh dumps the replica and keeps the
 * newest N, deploy/p2pvps-restore-drill.sh restores a dump into a fresh database and checks
 * its books (and refuses unbalanced ones), and promoting the replica makes it writable.
 * The systemd units pass `systemd-analyze verify`.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const deploy = (name: string) => join(root, 'deploy', name);
const pgUser = 'postgres';
const passwords = { replicator: 'replicator-secret', p2pvps: 'p2pvps-secret', p2pvps_backup: 'backup-secret' };

let dir = '';
let bin = '';
let passfile = '';
const primary = { port: 0, data: '' };
const replica = { port: 0, data: '' };

function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  // The scripts call pg_dump, psql… by name: here the version's own binaries, not Debian's Perl wrapper, which is slow to start.
  const path = bin ? `${bin}:${process.env.PATH}` : process.env.PATH;
  return spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH: path, PGPASSFILE: passfile, ...env }, timeout: 60_000 });
}

function ok(res: SpawnSyncReturns<string>, what: string): string {
  assert.equal(res.status, 0, `${what} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

/** A command as the database's OS user (PostgreSQL refuses to run as root). */
function asPostgres(cmd: string, args: readonly string[]): SpawnSyncReturns<string> {
  return run('runuser', ['-u', pgUser, '--', cmd, ...args]);
}

/** One value from a query, as the superuser over the cluster's socket. */
function query(port: number, sql: string, db = 'postgres'): string {
  return ok(
    asPostgres(join(bin, 'psql'), [
      '-X',
      '-q',
      '-t',
      '-A',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      join(dir, 'socket'),
      '-p',
      String(port),
      '-d',
      db,
      '-c',
      sql,
    ]),
    `psql on ${port}: ${sql}`,
  ).trim();
}

function startCluster(c: { port: number; data: string }): void {
  ok(
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      c.data,
      '-l',
      `${c.data}.log`,
      '-w',
      '-t',
      '60',
      'start',
      '-o',
      // No fsync: the clusters are thrown away, and replication does not depend on it.
      `-p ${c.port} -k ${join(dir, 'socket')} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
    ]),
    `starting PostgreSQL on ${c.port}`,
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits for a condition the database reaches by itself (replication is asynchronous). */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const url = (user: keyof typeof passwords, port: number, db: string) => `postgres://${user}@127.0.0.1:${port}/${db}`;

before(async () => {
  const initdb = () => readdirSync('/usr/lib/postgresql', { withFileTypes: true }).map((d) => `/usr/lib/postgresql/${d.name}/bin`);
  if (!existsSync('/usr/lib/postgresql') || !initdb().some((b) => existsSync(join(b, 'initdb')))) {
    ok(run('apt-get', ['install', '-y', '-q', 'postgresql'], { DEBIAN_FRONTEND: 'noninteractive' }), 'apt-get install postgresql');
  }
  bin = initdb()
    .filter((b) => existsSync(join(b, 'initdb')))
    .sort((a, b) => Number(basename(join(a, '..'))) - Number(basename(join(b, '..'))))
    .at(-1)!;
  dir = mkdtempSync(join(tmpdir(), 'p2pvps-layout-'));
  chmodSync(dir, 0o755);
  const { uid, gid } = { uid: Number(ok(run('id', ['-u', pgUser]), 'id -u')), gid: Number(ok(run('id', ['-g', pgUser]), 'id -g')) };
  mkdirSync(join(dir, 'socket'));
  mkdirSync(join(dir, 'replica-parent'));
  for (const d of ['.', 'socket', 'replica-parent']) chownSync(join(dir, d), uid, gid);
  primary.port = await freePort();
  replica.port = await freePort();
  primary.data = join(dir, 'primary');
  replica.data = join(dir, 'replica-parent', 'replica');

  // libpq (and node-postgres) read passwords from here; it must be 0600 and its user's.
  passfile = join(dir, 'pgpass');
  writeFileSync(
    passfile,
    Object.entries(passwords)
      .map(([user, password]) => `127.0.0.1:*:*:${user}:${password}\n`)
      .join(''),
    { mode: 0o600 },
  );
  chownSync(passfile, uid, gid);

  // Local socket: trust (the setup below); TCP, replication included: passwords (SCRAM), as in production.
  ok(
    asPostgres(join(bin, 'initdb'), [
      '-D',
      primary.data,
      '-U',
      pgUser,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--locale=C',
      '--no-sync',
      '-E',
      'UTF8',
    ]),
    'initdb',
  );
  startCluster(primary);
  query(primary.port, `create role replicator with replication login password '${passwords.replicator}'`);
  query(primary.port, `create role p2pvps login password '${passwords.p2pvps}'`);
  query(primary.port, `create role p2pvps_backup login password '${passwords.p2pvps_backup}' in role pg_read_all_data`);
  query(primary.port, 'create database p2pvps owner p2pvps');
  // A small stand-in for the p2pvps schema: what the restore drill checks (migrations, the books).
  const setup = `
    create table kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null);
    insert into kysely_migration values ('2026-11-22T0800-initial', '2026-11-22T08:00:00.000Z');
    create table ledger_accounts (id text primary key, kind text not null, balance bigint not null);
    create table ledger_transactions (id text primary key, kind text not null);
    create table ledger_entries (id text primary key, transaction_id text not null, account_id text not null, amount bigint not null);
    create table users (id text primary key, email text not null);
    create table devices (id text primary key);
    create table rentals (id text primary key);
    insert into users values ('u1', 'first@example.org');
    insert into ledger_accounts values ('cash', 'asset', -5000000), ('renter', 'liability', 5000000);
    insert into ledger_transactions values ('t1', 'deposit');
    insert into ledger_entries values ('e1', 't1', 'cash', -5000000), ('e2', 't1', 'renter', 5000000);`;
  ok(
    run(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url('p2pvps', primary.port, 'p2pvps'), '-c', setup]),
    'the schema, as the p2pvps role over TCP',
  );
});

after(() => {
  for (const c of [replica, primary]) {
    if (c.data && existsSync(join(c.data, 'postmaster.pid')))
      asPostgres(join(bin, 'pg_ctl'), ['-D', c.data, '-m', 'immediate', '-w', 'stop']);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('p2pvps-make-replica.sh makes a streaming replica: a row written on the primary is read on the replica', async () => {
  const made = run(deploy('p2pvps-make-replica.sh'), [
    '--primary-host',
    '127.0.0.1',
    '--primary-port',
    String(primary.port),
    '--slot',
    'replica_one',
    '--data-dir',
    replica.data,
  ]);
  ok(made, 'p2pvps-make-replica.sh');
  assert.match(made.stdout, /done: .* is a standby of 127\.0\.0\.1:\d+ \(slot replica_one\)/);
  assert.ok(existsSync(join(replica.data, 'standby.signal')), 'the copy starts as a standby');
  const auto = readFileSync(join(replica.data, 'postgresql.auto.conf'), 'utf8');
  // The password's file, not the password: the replica finds it again whenever it reconnects.
  assert.match(auto, /^primary_conninfo = 'user=replicator passfile=''[^']+pgpass'' .*host=127\.0\.0\.1 port=\d+ /m);
  assert.match(auto, /^primary_slot_name = 'replica_one'$/m);
  assert.match(auto, /^hot_standby_feedback = on$/m);

  startCluster(replica);
  assert.equal(query(replica.port, 'select pg_is_in_recovery()'), 't', 'the replica is a standby');
  await eventually(
    'the replica streams from the primary',
    () => query(replica.port, 'select status from pg_stat_wal_receiver') === 'streaming',
  );
  assert.equal(query(primary.port, "select active from pg_replication_slots where slot_name = 'replica_one'"), 't', 'the slot is in use');

  query(primary.port, "insert into users values ('u2', 'written-on-the-primary@example.org')", 'p2pvps');
  await eventually(
    'the new row reaches the replica',
    () => query(replica.port, "select count(*) from users where email = 'written-on-the-primary@example.org'", 'p2pvps') === '1',
  );

  const again = run(deploy('p2pvps-make-replica.sh'), ['--primary-host', '127.0.0.1', '--data-dir', replica.data]);
  assert.notEqual(again.status, 0, 'a data directory in use is never overwritten');
  assert.match(again.stderr, /is not empty: stop PostgreSQL and move it aside first/);
});

test('p2pvps-backup.sh dumps the replica into a dated file, keeps the newest N, and the restore drill finds the row and balanced books', () => {
  const backups = join(dir, 'backups');
  mkdirSync(backups, { mode: 0o700 });
  // Older dumps from earlier nights (names sort by age): with --keep 2 only the newest of them stays.
  for (const day of ['01', '02', '03']) writeFileSync(join(backups, `p2pvps-2026-01-${day}T031500Z.dump`), 'older');
  const backup = run(deploy('p2pvps-backup.sh'), ['--url', url('p2pvps_backup', replica.port, 'p2pvps'), '--dir', backups, '--keep', '2']);
  ok(backup, 'p2pvps-backup.sh');
  assert.match(backup.stdout, /wrote .*p2pvps-\d{4}-\d\d-\d\dT\d{6}Z\.dump \(\d+ bytes\); 2 dumps kept, 2 older removed/);
  const left = readdirSync(backups).sort();
  assert.equal(left.length, 2, `kept: ${left.join(', ')}`);
  assert.equal(left[0], 'p2pvps-2026-01-03T031500Z.dump');
  const dump = join(backups, left[1]!);
  assert.ok(ok(run('pg_restore', ['--list', dump]), 'pg_restore --list').includes('TABLE DATA public users'));

  const drill = run(deploy('p2pvps-restore-drill.sh'), ['--url', url('p2pvps', primary.port, 'postgres'), '--dir', backups, '--keep']);
  assert.equal(drill.status, 1, 'the role may not create databases yet: the drill says so');
  assert.match(drill.stderr, /cannot create the drill database/);
  query(primary.port, 'alter role p2pvps createdb');

  const restored = run(deploy('p2pvps-restore-drill.sh'), ['--url', url('p2pvps', primary.port, 'postgres'), '--dir', backups, '--keep']);
  ok(restored, 'p2pvps-restore-drill.sh');
  assert.match(restored.stdout, /restored: 1 migrations, the last 2026-11-22T0800-initial; the books sum to 0/);
  assert.match(restored.stdout, /2 users, 0 devices, 0 rentals, 1 ledger transactions/);
  const kept = /kept the database (p2pvps_drill_\w+)/.exec(restored.stdout)?.[1];
  assert.ok(kept, restored.stdout);
  assert.equal(query(primary.port, "select email from users where id = 'u2'", kept), 'written-on-the-primary@example.org');
  query(primary.port, `drop database ${kept}`);
});

test('a backup that cannot be made fails loudly and deletes nothing; unbalanced books fail the drill', () => {
  const backups = join(dir, 'backups');
  const before = readdirSync(backups).sort();
  const refused = run(deploy('p2pvps-backup.sh'), [
    '--url',
    url('p2pvps_backup', primary.port, 'nosuchdb'),
    '--dir',
    backups,
    '--keep',
    '1',
  ]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /database "nosuchdb" does not exist/);
  assert.match(refused.stderr, /p2pvps-backup: error: pg_dump of postgres:\/\/p2pvps_backup@127\.0\.0\.1:\d+\/nosuchdb failed/);
  assert.deepEqual(readdirSync(backups).sort(), before, 'no partial file, nothing pruned');

  query(primary.port, "insert into ledger_entries values ('e3', 't1', 'renter', 1)", 'p2pvps');
  // As p2pvps-backup.service runs it: settings from the environment (backup.env).
  const env = { P2PVPS_BACKUP_URL: url('p2pvps_backup', primary.port, 'p2pvps'), P2PVPS_BACKUP_DIR: join(dir, 'bad-books') };
  assert.match(ok(run(deploy('p2pvps-backup.sh'), [], env), 'backup'), /1 dumps kept, 0 older removed/);
  const drill = run(deploy('p2pvps-restore-drill.sh'), ['--url', url('p2pvps', primary.port, 'postgres'), '--dir', join(dir, 'bad-books')]);
  assert.equal(drill.status, 1);
  assert.match(drill.stderr, /the ledger entries sum to 1, not 0/);
  assert.equal(
    query(primary.port, "select count(*) from pg_database where datname like 'p2pvps_drill_%'"),
    '0',
    'the drill dropped its database',
  );
});

test('promoting the replica (pg_promote) makes it a primary that takes writes', async () => {
  assert.equal(query(replica.port, 'select pg_promote(true, 60)'), 't');
  assert.equal(query(replica.port, 'select pg_is_in_recovery()'), 'f');
  query(replica.port, "insert into users values ('u3', 'after-failover@example.org')", 'p2pvps');
  assert.equal(query(replica.port, 'select count(*) from users', 'p2pvps'), '3');
});

test('the systemd units pass systemd-analyze verify', (t) => {
  if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
    t.skip('systemd-analyze is not installed here (Debian: apt-get install systemd); only this check is skipped');
    return;
  }
  // The units name /opt/p2pvps; here the checkout stands in for it, so their commands exist.
  const units = join(dir, 'units');
  mkdirSync(units);
  const names = readdirSync(join(root, 'deploy/systemd'));
  for (const name of names) {
    writeFileSync(
      join(units, name),
      readFileSync(join(root, 'deploy/systemd', name), 'utf8').replaceAll('/opt/p2pvps', root.replace(/\/$/, '')),
    );
  }
  assert.deepEqual(names.sort(), ['p2pvps-backup.service', 'p2pvps-backup.timer', 'p2pvps-server.service']);
  const verify = run('systemd-analyze', ['verify', ...names.map((n) => join(units, n))]);
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings either (a misspelt setting is only a warning)');
});
