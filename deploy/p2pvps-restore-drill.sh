#!/usr/bin/env bash
# The restore drill (docs/production.md): restores a p2pvps dump into a fresh scratch
# database beside the others, checks that it is whole (every migration recorded, the
# books balanced), prints what it holds, and drops it again. A backup is known good only
# once it has been restored; run this after the backup, monthly at least.
#
#   p2pvps-restore-drill.sh --url URL (--dump FILE | --dir DIR) [--keep]
#
#   --url URL    a database on the server to restore on, postgres://USER@HOST:PORT/postgres;
#                USER must be allowed to create databases. Use a scratch server, or the
#                primary when it has room: the drill's database has a name of its own.
#   --dump FILE  the dump to restore; or --dir DIR: the newest p2pvps-*.dump in DIR
#   --keep       keep the restored database and print its name (to look around in it)
#
# Exits non-zero, saying why, when the dump does not restore or what it restores is not
# whole: no kysely_migration table, ledger entries that do not sum to zero, an account
# whose balance is not the sum of its entries.
set -euo pipefail

fail() { printf 'p2pvps-restore-drill: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'p2pvps-restore-drill: %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

url="" dump="" dir="" keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url="${2:-}"; shift 2 ;;
    --dump) dump="${2:-}"; shift 2 ;;
    --dir) dir="${2:-}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$url" ] || fail "give --url postgres://USER@HOST:PORT/postgres"
[[ "$url" =~ ^postgres(ql)?://[^/?]*(/[^?]*)?(\?.*)?$ ]] || fail "--url must look like postgres://USER@HOST:PORT/DB"
if [ -z "$dump" ]; then
  [ -n "$dir" ] || fail "give --dump FILE or --dir DIR"
  dump="$(find "$dir" -maxdepth 1 -type f -name 'p2pvps-*.dump' | sort | tail -n 1)"
  [ -n "$dump" ] || fail "no p2pvps-*.dump in $dir"
fi
[ -f "$dump" ] || fail "$dump is not a file"

name="p2pvps_drill_$(date -u +%Y%m%d%H%M%S)_$$"
# The same server and credentials as --url, the drill's database instead of its own.
drill_url="$(printf '%s' "$url" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/$name#")"
psql_at() { psql --no-psqlrc --no-password --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 --dbname="$1" -c "$2"; }

psql_at "$url" "create database $name" || fail "cannot create the drill database $name through --url"
cleanup() { [ -n "$keep" ] || psql_at "$url" "drop database if exists $name" >/dev/null || true; }
trap cleanup EXIT

note "restoring $dump into $name"
# --no-owner, --no-acl: the drill's user owns what it restores, whatever roles the source had.
pg_restore --no-password --exit-on-error --no-owner --no-acl --dbname="$drill_url" "$dump" ||
  fail "$dump did not restore (the reason is above)"

migrations="$(psql_at "$drill_url" "select count(*) || ' migrations, the last ' || max(name) from kysely_migration" 2>/dev/null)" ||
  fail "the restored database has no kysely_migration table: not a p2pvps database"
unbalanced="$(psql_at "$drill_url" "select coalesce(sum(amount), 0) from ledger_entries")"
[ "$unbalanced" = 0 ] || fail "the ledger entries sum to $unbalanced, not 0: the books in $dump are not balanced"
wrong="$(psql_at "$drill_url" "select count(*) from ledger_accounts a where a.balance <> (select coalesce(sum(e.amount), 0) from ledger_entries e where e.account_id = a.id)")"
[ "$wrong" = 0 ] || fail "$wrong ledger accounts have a balance that is not the sum of their entries in $dump"

note "restored: $migrations; the books sum to 0"
note "$(psql_at "$drill_url" "select (select count(*) from users) || ' users, ' || (select count(*) from devices) || ' devices, ' || (select count(*) from rentals) || ' rentals, ' || (select count(*) from ledger_transactions) || ' ledger transactions'")"
if [ -n "$keep" ]; then note "kept the database $name: drop it with: drop database $name;"; else note "dropped $name"; fi
