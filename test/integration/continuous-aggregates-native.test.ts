import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const skip = nativeTimescaleSkipReason ?? pythonToolsSkip();
const STREAMS = ['public-readings_hourly', 'public-readings_live', 'public-readings_daily'];

/**
 * Continuous aggregates against a real server: refresh policies run by TimescaleDB's job scheduler
 * (`CALL run_job`), real-time aggregates, a hierarchical one, and MeltanoLabs target-postgres upserting the
 * records by their key. After every run the loaded tables must equal `SELECT * FROM` each aggregate.
 */
describe.skipIf(!!skip)(
  `continuous aggregates, refreshed by their policies, upserted into target-postgres (native TimescaleDB${skip ? `: ${skip}` : ''})`,
  () => {
    let db: TestDatabase;
    let dest: TestDatabase;
    let config: string;
    let catalog: string;
    let targetConfig: string;
    const jobs: number[] = [];

    beforeAll(async () => {
      db = await nativeTimescaleDatabase();
      dest = await nativeDatabase();
      // 3 days of rows up to now, every 10 minutes, for 2 devices; policies start tomorrow: only run_job refreshes
      await db.sql(`
      CREATE TABLE readings (ts timestamptz NOT NULL, device int NOT NULL, v double precision NOT NULL);
      SELECT create_hypertable('readings', by_range('ts', interval '1 hour'));
      INSERT INTO readings SELECT t, d, extract(epoch FROM t)::int % 97 + d
        FROM generate_series(now() - interval '3 days', now(), interval '10 minutes') t, generate_series(1, 2) d;
      CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
        SELECT time_bucket('1 hour', ts) AS bucket, device, count(*) AS n, sum(v) AS total FROM readings GROUP BY 1, 2 WITH NO DATA;
      CREATE MATERIALIZED VIEW readings_live WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket('30 minutes', ts) AS bucket, device, count(*) AS n, max(v) AS top FROM readings GROUP BY 1, 2 WITH NO DATA;
      CREATE MATERIALIZED VIEW readings_daily WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket('1 day', bucket) AS day, device, sum(n) AS n FROM readings_hourly GROUP BY 1, 2 WITH NO DATA;`);
      for (const [view, start, end] of [
        ['readings_hourly', '1 day', '1 hour'],
        ['readings_live', '1 day', '1 hour'],
        ['readings_daily', '4 days', '1 day'],
      ]) {
        const [{ id }] = await db.sql<{ id: number }>(
          `SELECT add_continuous_aggregate_policy($1, start_offset => $2::interval, end_offset => $3::interval, schedule_interval => interval '1 hour', initial_start => now() + interval '1 day') AS id`,
          [view, start, end],
        );
        jobs.push(id);
      }
      // the backfill a user runs once: the policies' windows cover only the last day
      for (const view of ['readings_hourly', 'readings_live'])
        await db.sql(`CALL refresh_continuous_aggregate('${view}', NULL, now() - interval '1 day')`);
      await refresh();
      config = tmpJson({ url: db.url });
      const discovered: Catalog = await discover(config);
      // only selected: discovery's defaults (INCREMENTAL on the bucket) decide the method
      catalog = tmpJson(select(discovered, Object.fromEntries(STREAMS.map((s) => [s, { discovered: true }]))));
      targetConfig = tmpJson({ sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'), default_target_schema: 'loaded' });
    }, 180_000);
    afterAll(async () => {
      await db?.close();
      await dest?.close();
    });

    /** Every policy run by TimescaleDB's own job code, in dependency order (the daily aggregate reads the hourly one). */
    async function refresh(): Promise<void> {
      for (const id of jobs) await db.sql(`CALL run_job(${id})`);
    }

    let lastStderr = '';

    /** One tap run into target-postgres; returns the tap's messages. */
    async function syncInto(state?: Record<string, unknown>): Promise<Record<string, any>[]> {
      const tap = await runTap(['--config', config, '--catalog', catalog, ...(state ? ['--state', tmpJson(state)] : [])]);
      expect(tap.code, tap.stderr).toBe(0);
      lastStderr = tap.stderr;
      const file = tmpJson('', 'messages.jsonl');
      writeFileSync(file, tap.stdout);
      const load = await run('bash', ['-c', `"${TOOLS.targetPostgres}" --config "${targetConfig}" < "${file}"`]);
      expect(load.code, load.stderr.slice(-3000)).toBe(0);
      return tap.messages;
    }

    /** The view and the loaded table, rows as text in one order. */
    async function compare(view: string, bucket: string, values: string): Promise<void> {
      const q = (table: string, at: string) =>
        `SELECT to_char(${at}, 'YYYY-MM-DD HH24:MI') AS b, device::text AS device, ${values} FROM ${table} ORDER BY 1, 2`;
      const want = await db.sql(q(`public.${view}`, `${bucket} AT TIME ZONE 'UTC'`));
      const got = await dest.sql(q(`loaded.${view}`, bucket));
      expect(want.length).toBeGreaterThan(0);
      expect(got, view).toEqual(want);
    }

    async function compareAll(): Promise<void> {
      await compare('readings_hourly', 'bucket', 'n::int8 AS n, total::float8 AS total');
      await compare('readings_live', 'bucket', 'n::int8 AS n, top::float8 AS top');
      await compare('readings_daily', 'day', 'n::int8 AS n');
    }

    it('late rows inside the refresh window, a policy refresh, real-time buckets that change: the upserted tables equal the aggregates after every run', async () => {
      const first = await syncInto();
      await compareAll();
      const state = lastState(first)!;
      const [{ w }] = await db.sql<{ w: string }>(
        `SELECT to_char(_timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS w
         FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = 'readings_live'`,
      );
      // real-time buckets at and above the watermark were emitted, but the bookmark stops at the watermark
      expect(records(first, 'public-readings_live').some((r) => r.bucket >= w)).toBe(true);
      expect(state.bookmarks['public-readings_live'].replication_key_value).toBe(w);

      // a late row 5 hours ago (inside the 1-day window), rows in the newest (real-time) bucket, then the policies run
      const [{ late, newest }] = await db.sql<{ late: string; newest: string }>(
        `SELECT to_char(time_bucket('1 hour', now() - interval '5 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS late,
              to_char(time_bucket('30 minutes', now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS newest`,
      );
      await db.sql(`INSERT INTO readings VALUES (now() - interval '5 hours', 1, 5000), (now(), 1, 9000), (now(), 2, 9000)`);
      await refresh();
      const second = await syncInto(state);
      await compareAll();
      // the bucket the late row changed came again, with its new count; so did the newest real-time bucket
      const lateRecord = records(second, 'public-readings_hourly').find((r) => r.bucket === late && r.device === 1);
      expect(lateRecord?.total).toBeGreaterThanOrEqual(5000);
      expect(records(second, 'public-readings_live').find((r) => r.bucket === newest && r.device === 2)?.top).toBe(9000);
      // the second run read a window (bookmark - 1 day), not the 3 days of history
      const hourly = records(second, 'public-readings_hourly').length;
      const [{ all }] = await db.sql<{ all: string }>('SELECT count(*) AS all FROM readings_hourly');
      expect(hourly).toBeLessThan(Number(all) / 2);
      // the window's bound is a constant: TimescaleDB's planner leaves out the materialization's older chunks
      const bound = /public-readings_hourly: continuous aggregate read from ([^;]+);/.exec(lastStderr)![1]!;
      const plan = (await db.sql<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT * FROM readings_hourly WHERE bucket >= '${bound}'::timestamptz`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      const [{ chunks }] = await db.sql<{ chunks: string }>(
        `SELECT count(*) AS chunks FROM timescaledb_information.chunks c JOIN _timescaledb_catalog.continuous_agg a
          ON a.user_view_name = 'readings_hourly' JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id AND h.table_name = c.hypertable_name`,
      );
      const scanned = new Set(plan.match(/_hyper_\d+_\d+_chunk/g) ?? []).size;
      expect(Number(chunks)).toBeGreaterThan(2);
      expect(scanned).toBeGreaterThan(0);
      expect(scanned, plan).toBeLessThan(Number(chunks));

      // more rows, no refresh: the real-time buckets change again, and the third run brings them
      await db.sql(`INSERT INTO readings VALUES (now(), 2, 12345)`);
      await syncInto(lastState(second)!);
      await compareAll();
    });
  },
);
