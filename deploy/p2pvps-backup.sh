#!/usr/bin/env bash
# Backs up the p2pvps database: one pg_dump in the custom format (-Fc: compressed, checked
# and restored with pg_restore, table by table if need be) into a dated file, then keeps
# the newest N and deletes older ones. Run daily by p2pvps-backup.timer (docs/production.md).
#
#   p2pvps-backup.sh [--url URL] [--dir DIR] [--keep N]
#
#   --url URL   the database, postgres://USER@HOST:PORT/DB (env P2PVPS_BACKUP_URL); the
#               password comes from PGPASSFILE or ~/.pgpass, never from the command line.
#               A streaming replica will do and spares the primary the read.
#   --dir DIR   where the dumps go (env P2PVPS_BACKUP_DIR), made 0700 if missing
#   --keep N    how many dumps to keep, newest first (env P2PVPS_BACKUP_KEEP, default 14)
#
# It fails loudly: any problem (no connection, a lock it waited on too long, a full disk,
# a dump pg_restore cannot read) exits non-zero with the reason on stderr, leaves no
# partial file under a dump's name, and deletes nothing. Dumps are named
# p2pvps-YYYY-MM-DDTHHMMSSZ.dump (UTC), so their names sort by age.
set -euo pipefail

fail() { printf 'p2pvps-backup: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

url="${P2PVPS_BACKUP_URL:-}" dir="${P2PVPS_BACKUP_DIR:-}" keep="${P2PVPS_BACKUP_KEEP:-14}"
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url="${2:-}"; shift 2 ;;
    --dir) dir="${2:-}"; shift 2 ;;
    --keep) keep="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$url" ] || fail "no database: give --url postgres://USER@HOST:PORT/DB or set P2PVPS_BACKUP_URL"
[ -n "$dir" ] || fail "no directory: give --dir DIR or set P2PVPS_BACKUP_DIR"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || fail "--keep must be a whole number of dumps, 1 or more (got '$keep')"
command -v pg_dump >/dev/null || fail "pg_dump is not installed (Debian: apt-get install postgresql-client)"

mkdir -p -m 0700 "$dir"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
file="$dir/p2pvps-$stamp.dump"
[ ! -e "$file" ] || fail "$file already exists: another backup ran this second"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

# --no-password: a missing password is an error, never a prompt that hangs the timer.
# --lock-wait-timeout: pg_dump takes share locks on every table; if a migration holds one
# for long, give up rather than queue every node's queries behind the dump.
if ! pg_dump --format=custom --no-password --lock-wait-timeout=300s --dbname="$url" --file="$partial"; then
  fail "pg_dump of $(printf '%s' "$url" | sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#') failed (its reason is above); nothing was written or deleted"
fi
[ -s "$partial" ] || fail "pg_dump wrote nothing; nothing was deleted"
# A dump pg_restore cannot list is no backup.
pg_restore --list "$partial" >/dev/null || fail "pg_restore cannot read the new dump; nothing was deleted"
sync "$partial"
mv "$partial" "$file"
trap - EXIT

mapfile -t dumps < <(find "$dir" -maxdepth 1 -type f -name 'p2pvps-*.dump' -printf '%f\n' | sort -r)
removed=0
for old in "${dumps[@]:$keep}"; do
  rm -f -- "$dir/$old"
  removed=$((removed + 1))
done
printf 'p2pvps-backup: wrote %s (%s bytes); %s dumps kept, %s older removed\n' \
  "$file" "$(stat -c %s "$file")" "$((${#dumps[@]} - removed))" "$removed"
