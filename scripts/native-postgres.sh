#!/usr/bin/env bash
# Starts (or stops) a throw-away PostgreSQL cluster for the tests, from Debian's postgresql-15 binaries.
# Usage: scripts/native-postgres.sh start|stop [DATA_DIR] [PORT]. Prints the admin URL on start.
# Runs the server as the 'postgres' OS user when started by root (PostgreSQL refuses root).
# When TimescaleDB is installed into this PostgreSQL (../shared/timescaledb/install.sh), the cluster preloads
# it, so a database that runs CREATE EXTENSION timescaledb is a native TimescaleDB (background jobs included);
# databases without the extension stay plain PostgreSQL. wal_level = logical for the LOG_BASED tests.
set -euo pipefail
cmd=${1:-start}
dir=${2:-${TMPDIR:-/tmp}/tap-timescaledb-pg}
port=${3:-54329}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
  echo "native-postgres: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql-15)" >&2
  exit 3
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
      as_pg "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
      cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
track_counts = on
wal_level = logical
max_replication_slots = 40
max_wal_senders = 40
CONF
      if [ -f "$bindir/../lib/timescaledb.so" ]; then
        cat >>"$dir/postgresql.conf" <<CONF
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_worker_processes = 64
timescaledb.max_background_workers = 48
CONF
      fi
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop [DATA_DIR] [PORT]" >&2; exit 2 ;;
esac
