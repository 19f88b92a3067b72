#!/usr/bin/env bash
# What a refresh of a 100k-row window of a continuous aggregate costs, LOG_BASED against INCREMENTAL
# (docs/continuous-aggregates.md quotes its output). Needs a native TimescaleDB cluster with wal_level =
# logical (scripts/native-postgres.sh start /tmp/cagg-pg 25555) and a built tap (npm run build).
# Usage: bench/continuous-aggregate-refresh.sh [admin url]   (default postgres://postgres@127.0.0.1:25555)
set -euo pipefail
admin=${1:-postgres://postgres@127.0.0.1:25555}
db=cagg_bench
here=$(cd "$(dirname "$0")/.." && pwd)
tap="$here/bin/tap-timescaledb"
work=$(mktemp -d)
psql -qX "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
url="$admin/$db"
q() { psql -qXAt "$url" -c "$1"; }
ms() { date +%s%3N; }

# 1,000 devices x 100 hourly buckets = 100,000 aggregate rows, 2 raw rows each
psql -qX "$url" <<'SQL'
CREATE EXTENSION timescaledb;
CREATE TABLE raw (ts timestamptz NOT NULL, device int NOT NULL, v double precision NOT NULL, PRIMARY KEY (ts, device));
SELECT create_hypertable('raw', by_range('ts', interval '1 day'));
INSERT INTO raw SELECT t, d, d FROM generate_series(date_trunc('hour', now()) - interval '100 hours', date_trunc('hour', now()) - interval '30 minutes', interval '30 minutes') t, generate_series(1, 1000) d;
CREATE MATERIALIZED VIEW agg WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
  SELECT time_bucket('1 hour', ts) AS bucket, device, count(*) AS n, sum(v) AS total FROM raw GROUP BY 1, 2 WITH NO DATA;
SQL
q "CALL refresh_continuous_aggregate('agg', NULL, NULL)"
mat=$(q "SELECT format('%I.%I', h.schema_name, h.table_name) FROM _timescaledb_catalog.continuous_agg a JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id")
echo "aggregate rows: $(q 'SELECT count(*) FROM agg')"

# every bucket of the window invalidated, then refreshed: the work a policy does after late rows everywhere
refresh() {
  q "UPDATE raw SET v = v + 1" >/dev/null
  local wal0 t0 t1 wal1
  wal0=$(q "SELECT pg_current_wal_lsn()")
  t0=$(ms)
  psql -qX "$url" -c "SET timescaledb.enable_merge_on_cagg_refresh = ${1:-off}" -c "CALL refresh_continuous_aggregate('agg', NULL, NULL)"
  t1=$(ms)
  wal1=$(q "SELECT pg_current_wal_lsn()")
  echo "refresh (merge ${1:-off}): $((t1 - t0)) ms, WAL $(q "SELECT pg_size_pretty(pg_wal_lsn_diff('$wal1', '$wal0'))")"
}

echo "--- baseline: no publication, materialization without replica identity"
refresh off

echo "--- LOG_BASED: REPLICA IDENTITY FULL, the tap's publication and slot"
q "ALTER TABLE $mat REPLICA IDENTITY FULL"
echo "{\"url\": \"$url\", \"sslmode\": \"disable\"}" >"$work/config.json"
node "$tap" --config "$work/config.json" --discover >"$work/catalog.json" 2>/dev/null
sel() {
  python3 - "$work/catalog.json" "$1" >"$work/selected.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for s in c['streams']:
    md = next(m for m in s['metadata'] if m['breadcrumb'] == [])['metadata']
    if s['tap_stream_id'] == 'public-agg':
        md['selected'] = True
        md['replication-method'] = sys.argv[2]
print(json.dumps(c))
PY
}
runtap() {
  local t0 t1
  t0=$(ms)
  node "$tap" --config "$work/config.json" --catalog "$work/selected.json" ${1:+--state "$1"} >"$work/out.jsonl" 2>"$work/err.log"
  t1=$(ms)
  grep '"type":"STATE"' "$work/out.jsonl" | tail -n 1 | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["value"]))' >"$work/state.json"
  echo "tap $2: $((t1 - t0)) ms, $(grep -c '"type":"RECORD"' "$work/out.jsonl") records ($(grep -c '"_sdc_deleted_at":"' "$work/out.jsonl" || true) deletes), $(wc -c <"$work/out.jsonl") bytes, state $(wc -c <"$work/state.json") bytes"
}
sel LOG_BASED
runtap "" "LOG_BASED initial copy"
refresh off
runtap "$work/state.json" "LOG_BASED after the refresh (delete + insert)"
refresh on
runtap "$work/state.json" "LOG_BASED after the refresh with MERGE"
runtap "$work/state.json" "LOG_BASED, nothing new"

echo "--- INCREMENTAL on the bucket, lookback 100 hours (the same window read again)"
sel INCREMENTAL
echo "{\"url\": \"$url\", \"sslmode\": \"disable\", \"late_arrival_lookback\": \"100 hours\"}" >"$work/config.json"
runtap "" "INCREMENTAL first run"
refresh off
runtap "$work/state.json" "INCREMENTAL after the refresh"

# what remembering the window's keys in the state would cost (to emit deletes for keys that vanished)
node -e '
const keys = [];
const t0 = Date.now();
for (let h = 0; h < 100; h++) for (let d = 1; d <= 1000; d++) keys.push([new Date(Date.UTC(2026, 0, 1, h)).toISOString(), d]);
const json = JSON.stringify({ window_keys: keys });
const t1 = Date.now();
const before = new Set(JSON.parse(json).window_keys.map((k) => JSON.stringify(k)));
const now = new Set(keys.slice(1).map((k) => JSON.stringify(k)));
const vanished = [...before].filter((k) => !now.has(k));
const t2 = Date.now();
console.log(`INCREMENTAL remembering 100,000 keys: state +${json.length} bytes per STATE message, build ${t1 - t0} ms, parse + diff ${t2 - t1} ms (${vanished.length} vanished)`);
'
psql -qX "$url" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null
psql -qX "$admin/postgres" -c "DROP DATABASE $db WITH (FORCE)"
rm -rf "$work"
