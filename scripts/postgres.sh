#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests (and for trying several server nodes by hand):
# Debian's server binaries, a cluster made with initdb in a temporary directory, run by
# pg_ctl as the unprivileged `postgres` user (PostgreSQL refuses to run as root), reached
# through a Unix socket in that directory (which also works from inside the tests' network
# namespace) and on 127.0.0.1 only. No password: only local users reach it. Durability is
# off (fsync, synchronous commit): a crash loses the cluster, which nothing keeps anyway.
#
#   scripts/postgres.sh start   installs postgresql if missing, starts the cluster (or finds
#                               it running) and prints its admin URL: P2PVPS_TEST_DATABASE
#   scripts/postgres.sh url     prints the admin URL
#   scripts/postgres.sh stop    stops the cluster and removes its directory
#
# P2PVPS_POSTGRES_DIR (default /tmp/p2pvps-postgres) and P2PVPS_POSTGRES_PORT (55432)
# choose where and on which port; P2PVPS_POSTGRES_LISTEN (127.0.0.1) the TCP address, empty
# for the socket alone (scripts/test runs a cluster of its own that way, beside others'). Tests create a database of their own per test context
# through the admin URL and drop it at the end (packages/server/src/testing/test-database.ts).
set -euo pipefail

dir="${P2PVPS_POSTGRES_DIR:-/tmp/p2pvps-postgres}"
port="${P2PVPS_POSTGRES_PORT:-55432}"
listen="${P2PVPS_POSTGRES_LISTEN-127.0.0.1}"
user=postgres
url="postgres://$user@127.0.0.1:$port/postgres?host=$dir/socket"

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_user() { runuser -u "$user" -- "$@"; }

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$found" ] || return 1
  echo "$found"
}

install_postgres() {
  bindir >/dev/null && getent passwd "$user" >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || fail "PostgreSQL is not installed; run this as root once so it can install it from apt."
  printf '\033[1m==> installing PostgreSQL from Debian packages\033[0m\n' >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q postgresql >&2
  # The package starts a cluster of its own on 5432; the tests do not use it.
  systemctl disable --now postgresql >/dev/null 2>&1 || true
}

running() { [ -f "$dir/data/postmaster.pid" ] && as_user "$(bindir)/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

start() {
  install_postgres
  local bin
  bin="$(bindir)"
  if running; then
    echo "$url"
    return 0
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/data" "$dir/socket"
    chown -R "$user:" "$dir"
    chmod 0700 "$dir/data"
    # The C collation sorts text by bytes, as SQLite does: ISO timestamps, IDs and keys order alike on both.
    as_user "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      fail "initdb failed: $(cat "$dir/initdb.log")"
  fi
  as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "$(
    printf '%s ' -p "$port" -k "$dir/socket" -c "listen_addresses='$listen'" \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400
  )" >/dev/null || fail "PostgreSQL did not start: $(tail -n 20 "$dir/server.log")"
  echo "$url"
}

stop() {
  if bindir >/dev/null && [ -f "$dir/data/postmaster.pid" ]; then
    as_user "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) fail "usage: $0 start|stop|url" ;;
esac
