#!/usr/bin/env bash
# Makes this machine's PostgreSQL a streaming replica of the primary (docs/production.md):
# copies the primary's data directory over the replication protocol with pg_basebackup,
# through a physical replication slot (so the primary keeps the WAL this replica has not
# received yet), and writes standby.signal and primary_conninfo (-R), so the copy starts
# as a hot standby that follows the primary. Run it as root or as the database's own user,
# with the replica's PostgreSQL stopped and its data directory absent or empty; start
# PostgreSQL afterwards.
#
#   p2pvps-make-replica.sh --primary-host HOST --data-dir DIR [--primary-port 5432]
#       [--user replicator] [--slot NAME] [--reuse-slot] [--os-user postgres]
#
#   --primary-host HOST  the primary, as this machine reaches it
#   --primary-port PORT  its port (default 5432)
#   --user ROLE          a role WITH REPLICATION LOGIN on the primary (default replicator);
#                        its password from PGPASSFILE or the OS user's ~/.pgpass, which
#                        primary_conninfo names too, so the replica finds it after restarts
#   --slot NAME          the replication slot (default: this host's short name, as a slot
#                        name: lower case, digits and _)
#   --reuse-slot         the slot exists already on the primary (made by an earlier attempt
#                        or by hand); without it the slot is created and must not exist
#   --data-dir DIR       the replica's data directory, e.g. /var/lib/postgresql/15/main
#   --os-user USER       the user PostgreSQL runs as (default postgres); pg_basebackup runs
#                        as this user when started as root
#
# Debian: systemctl stop postgresql@15-main; mv /var/lib/postgresql/15/main aside; run
# this; systemctl start postgresql@15-main. The primary needs, once: the role, a
# pg_hba.conf line `hostssl replication replicator REPLICA_ADDRESS/32 scram-sha-256`, and
# listen_addresses covering the replica's network (wal_level=replica, max_wal_senders and
# max_replication_slots are on by default).
set -euo pipefail

fail() { printf 'p2pvps-make-replica: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'p2pvps-make-replica: %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

host="" port=5432 user=replicator slot="" reuse="" data_dir="" os_user=postgres
while [ $# -gt 0 ]; do
  case "$1" in
    --primary-host) host="${2:-}"; shift 2 ;;
    --primary-port) port="${2:-}"; shift 2 ;;
    --user) user="${2:-}"; shift 2 ;;
    --slot) slot="${2:-}"; shift 2 ;;
    --reuse-slot) reuse=1; shift ;;
    --data-dir) data_dir="${2:-}"; shift 2 ;;
    --os-user) os_user="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$host" ] || fail "give --primary-host HOST"
[ -n "$data_dir" ] || fail "give --data-dir DIR (the replica's data directory)"
[[ "$port" =~ ^[0-9]+$ ]] || fail "--primary-port must be a number (got '$port')"
[ -n "$slot" ] || slot="$(hostname -s | tr 'A-Z.-' 'a-z__' | tr -cd 'a-z0-9_')"
[[ "$slot" =~ ^[a-z0-9_]{1,63}$ ]] || fail "--slot must be 1-63 lower-case letters, digits or _ (got '$slot')"
command -v pg_basebackup >/dev/null || fail "pg_basebackup is not installed (Debian: apt-get install postgresql)"

# As root, everything is done as the database's user, so the copy is theirs.
as_db_user() {
  if [ "$(id -u)" -eq 0 ] && [ "$os_user" != root ]; then runuser -u "$os_user" -- "$@"; else "$@"; fi
}
if [ "$(id -u)" -eq 0 ]; then
  getent passwd "$os_user" >/dev/null || fail "no user $os_user (--os-user)"
fi

if [ -e "$data_dir" ]; then
  [ -d "$data_dir" ] || fail "$data_dir exists and is not a directory"
  [ -z "$(ls -A "$data_dir")" ] || fail "$data_dir is not empty: stop PostgreSQL and move it aside first (this script never deletes a data directory)"
  [ ! -f "$data_dir/postmaster.pid" ] || fail "$data_dir has a postmaster.pid: stop PostgreSQL first"
else
  mkdir -p "$(dirname "$data_dir")"
  mkdir -m 0700 "$data_dir"
fi
[ "$(id -u)" -ne 0 ] || chown "$os_user:" "$data_dir"
chmod 0700 "$data_dir"

create=(--create-slot)
[ -z "$reuse" ] || create=()
note "copying the primary $host:$port as $user through slot $slot into $data_dir"
# --wal-method=stream: the WAL written during the copy comes along, so the copy is consistent
# by itself. --checkpoint=fast: start now rather than at the primary's next checkpoint.
# --no-password: a missing password fails at once instead of waiting at a prompt.
if ! as_db_user pg_basebackup --host="$host" --port="$port" --username="$user" --no-password \
  --pgdata="$data_dir" --wal-method=stream --checkpoint=fast --write-recovery-conf \
  --slot="$slot" "${create[@]}"; then
  [ -n "$reuse" ] || note "if the slot $slot was left on the primary, run again with --reuse-slot, or drop it there: select pg_drop_replication_slot('$slot');"
  fail "pg_basebackup failed (its reason is above); $data_dir may hold a partial copy: empty it before trying again"
fi

[ -f "$data_dir/standby.signal" ] || fail "pg_basebackup wrote no standby.signal; the copy would start as a second primary"
grep -q "^primary_conninfo" "$data_dir/postgresql.auto.conf" || fail "no primary_conninfo in $data_dir/postgresql.auto.conf"
grep -q "^primary_slot_name = '$slot'" "$data_dir/postgresql.auto.conf" || fail "no primary_slot_name in $data_dir/postgresql.auto.conf"
# Backups (pg_dump) run on the replica: with feedback on, the primary keeps the rows a long
# dump still reads instead of the replica cancelling the dump.
as_db_user sh -c "printf '%s\n' 'hot_standby_feedback = on' >>'$data_dir/postgresql.auto.conf'"

note "done: $data_dir is a standby of $host:$port (slot $slot). Start PostgreSQL, then check on it:"
note "  select status, sender_host from pg_stat_wal_receiver;   -- streaming"
note "and on the primary: select application_name, state, replay_lag from pg_stat_replication;"
