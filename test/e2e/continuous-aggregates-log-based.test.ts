import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { dropSlots, selectLogBased } from '../helpers/log-based.js';
import { pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';
import { discover, lastState, parseMessages, records, runTap, streamEntry, TAP_BIN, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const skip = nativeTimescaleSkipReason ?? pythonToolsSkip();

/** Every column of each aggregate as text, in the form both sides print it (the target keeps timestamps in UTC without a zone). */
const VIEWS = {
  readings_hourly: { bucket: 'bucket', values: `device::text, n::int8::text, total::float8::text` },
  readings_daily: { bucket: 'day', values: `device::text, n::int8::text` },
};

/**
 * LOG_BASED on continuous aggregates, read through their materialization hypertables, with TimescaleDB's
 * background scheduler running the refresh policies (schedule_interval 1 s) and the output replayed into
 * MeltanoLabs target-postgres. After every run the target's live rows (`_sdc_deleted_at IS NULL`) equal
 * `SELECT * FROM` each aggregate, count and checksum over every column: after a (bucket, group) row
 * vanished, a group moved, a manual refresh of a window older than the policies', on an hourly aggregate and
 * a daily one built on it. Real-time aggregates and materializations without REPLICA IDENTITY FULL are refused.
 */
describe.skipIf(!!skip)(
  `continuous aggregates LOG_BASED, refreshed by the background scheduler, replayed into target-postgres (native TimescaleDB${skip ? `: ${skip}` : ''})`,
  () => {
    let db: TestDatabase;
    let dest: TestDatabase;
    let config: string;
    let discovered: Catalog;
    const jobs: Record<string, number> = {};
    const mat: Record<string, string> = {};

    beforeAll(async () => {
      db = await nativeTimescaleDatabase();
      dest = await nativeDatabase();
      // rows from 3 days ago to 3 hours ago: as time passes during the test, a policy's window takes in no new rows
      await db.sql(`
        CREATE TABLE readings (ts timestamptz NOT NULL, device int NOT NULL, v double precision NOT NULL, PRIMARY KEY (ts, device));
        SELECT create_hypertable('readings', by_range('ts', interval '6 hours'));
        INSERT INTO readings SELECT t, d, extract(epoch FROM t)::int % 97 + d
          FROM generate_series(now() - interval '3 days', now() - interval '3 hours', interval '10 minutes') t, generate_series(1, 2) d;
        CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
          SELECT time_bucket('1 hour', ts) AS bucket, device, count(*) AS n, sum(v) AS total FROM readings GROUP BY 1, 2 WITH NO DATA;
        CREATE MATERIALIZED VIEW readings_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
          SELECT time_bucket('1 day', bucket) AS day, device, sum(n) AS n FROM readings_hourly GROUP BY 1, 2 WITH NO DATA;
        CREATE MATERIALIZED VIEW readings_live WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
          SELECT time_bucket('30 minutes', ts) AS bucket, device, max(v) AS top FROM readings GROUP BY 1, 2 WITH NO DATA;`);
      // refresh_continuous_aggregate() cannot run inside a transaction block: one statement each
      for (const [view, end] of [
        ['readings_hourly', 'NULL'],
        ['readings_daily', 'NULL'],
        ['readings_live', `now() - interval '4 hours'`],
      ])
        await db.sql(`CALL refresh_continuous_aggregate('${view}', NULL, ${end})`);
      for (const r of await db.sql<{ view: string; mat: string }>(
        `SELECT a.user_view_name AS view, format('"%s"."%s"', h.schema_name, h.table_name) AS mat
           FROM _timescaledb_catalog.continuous_agg a JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id`,
      ))
        mat[r.view] = r.mat;
      // what the tap asks a DBA for: a refresh's deletes carry the whole old row (bucket and group included)
      for (const view of ['readings_hourly', 'readings_daily']) await db.sql(`ALTER TABLE ${mat[view]} REPLICA IDENTITY FULL`);
      for (const [view, start, end] of [
        ['readings_hourly', '1 day', '1 hour'],
        ['readings_daily', '3 days', null],
      ] as const) {
        const [{ id }] = await db.sql<{ id: number }>(
          `SELECT add_continuous_aggregate_policy($1, start_offset => $2::interval, end_offset => $3::interval, schedule_interval => interval '1 second') AS id`,
          [view, start, end],
        );
        jobs[view] = id;
      }
      config = tmpJson({ url: db.url, sslmode: 'disable' });
      discovered = await discover(config);
    }, 180_000);
    afterAll(async () => {
      if (db) await dropSlots(db).catch(() => undefined);
      await db?.close();
      await dest?.close();
    });

    /**
     * Waits until the scheduler has refreshed both aggregates after `since` (after the change): a successful
     * run of the hourly policy that started after it, then one of the daily policy that started after that
     * finished (the daily aggregate reads the hourly one's materialization).
     */
    async function policiesRan(since: string): Promise<void> {
      const deadline = Date.now() + 90_000;
      // the two jobs start in the same second each time: remember when the hourly one finished a run that
      // started after `since`, then wait for a daily run that started after that (so it read the new hours)
      const ran = async (job: number, after: string): Promise<string | undefined> =>
        (
          await db.sql<{ f: string }>(
            `SELECT last_successful_finish::text AS f FROM timescaledb_information.job_stats
              WHERE job_id = $1 AND last_run_started_at > $2::timestamptz AND last_run_status = 'Success' AND last_successful_finish >= last_run_started_at`,
            [job, after],
          )
        )[0]?.f;
      let hourly: string | undefined;
      for (;;) {
        hourly ??= await ran(jobs.readings_hourly!, since);
        if (hourly && (await ran(jobs.readings_daily!, hourly))) return;
        if (Date.now() > deadline) throw new Error(`the refresh policies did not run after ${since}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    const clock = async (): Promise<string> => (await db.sql<{ t: string }>(`SELECT clock_timestamp()::text AS t`))[0]!.t;

    /** count and md5 over every column of the rows, on both sides */
    async function checksum(view: keyof typeof VIEWS): Promise<{ want: unknown; got: unknown }> {
      const { bucket, values } = VIEWS[view];
      const sum = (at: string, table: string, where: string) =>
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(r, ',' ORDER BY r), '')) AS sum
           FROM (SELECT concat_ws('|', to_char(${at}, 'YYYY-MM-DD HH24:MI:SS'), ${values}) AS r FROM ${table} WHERE ${where}) x`;
      const [want] = await db.sql(sum(`${bucket} AT TIME ZONE 'UTC'`, `public.${view}`, 'true'));
      const [got] = await dest.sql(sum(bucket, `loaded.${view}`, '_sdc_deleted_at IS NULL'));
      return { want, got };
    }

    async function compareAll(): Promise<void> {
      for (const view of Object.keys(VIEWS) as (keyof typeof VIEWS)[]) {
        const { want, got } = await checksum(view);
        expect((want as { n: number }).n).toBeGreaterThan(0);
        expect(got, view).toEqual(want);
      }
    }

    it('discovery offers LOG_BASED for materialized-only aggregates; a real-time one, and a materialization without REPLICA IDENTITY FULL, stop the run naming the statement', async () => {
      const methods = (id: string) =>
        (streamEntry(discovered, id).metadata.find((m) => m.breadcrumb.length === 0)!.metadata as any)['valid-replication-methods'];
      expect(methods('public-readings_hourly')).toEqual(['FULL_TABLE', 'INCREMENTAL', 'LOG_BASED']);
      expect(methods('public-readings_daily')).toEqual(['FULL_TABLE', 'INCREMENTAL', 'LOG_BASED']);
      expect(methods('public-readings_live')).toEqual(['FULL_TABLE', 'INCREMENTAL']);
      // the default stays INCREMENTAL on the bucket (docs/continuous-aggregates.md says why)
      expect(
        (streamEntry(discovered, 'public-readings_hourly').metadata.find((m) => m.breadcrumb.length === 0)!.metadata as any)[
          'replication-method'
        ],
      ).toBe('INCREMENTAL');

      const live = await runTap(['--config', config, '--catalog', tmpJson(selectLogBased(discovered, ['public-readings_live']))]);
      expect(live.code).toBe(2);
      expect(live.stdout).toBe('');
      expect(live.stderr).toContain(`ALTER MATERIALIZED VIEW "public"."readings_live" SET (timescaledb.materialized_only = true)`);

      await db.sql(`ALTER TABLE ${mat.readings_hourly} REPLICA IDENTITY DEFAULT`);
      try {
        const bare = await runTap(['--config', config, '--catalog', tmpJson(selectLogBased(discovered, ['public-readings_hourly']))]);
        expect(bare.code).toBe(2);
        expect(bare.stdout).toBe('');
        expect(bare.stderr).toContain(`ALTER TABLE ${mat.readings_hourly} REPLICA IDENTITY FULL`);
      } finally {
        await db.sql(`ALTER TABLE ${mat.readings_hourly} REPLICA IDENTITY FULL`);
      }

      // the real-time aggregate is not read, but its materialization's chunks share the schema the
      // publication must cover: published, its refreshes would fail. The tap does not publish it so
      const guarded = await runTap(['--config', config, '--catalog', tmpJson(selectLogBased(discovered, ['public-readings_hourly']))]);
      expect(guarded.code).toBe(2);
      expect(guarded.stdout).toBe('');
      expect(guarded.stderr).toContain(`ALTER TABLE ${mat.readings_live.replace(/"/g, '')} REPLICA IDENTITY FULL`);
      expect(await db.sql(`SELECT pubname FROM pg_publication`)).toEqual([]);
      await db.sql(`ALTER TABLE ${mat.readings_live} REPLICA IDENTITY FULL`);
    });

    it('the target equals the hourly and the daily-on-hourly aggregates after a vanished group, a moved group and a manual refresh of an old window', async () => {
      const catalog = tmpJson(selectLogBased(discovered, ['public-readings_hourly', 'public-readings_daily']));
      const targetConfig = tmpJson({
        sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'),
        default_target_schema: 'loaded',
        add_record_metadata: true,
      });
      let stderr = '';
      const load = async (state?: unknown): Promise<{ messages: Record<string, any>[]; state: Record<string, any> }> => {
        const args = ['--config', config, '--catalog', catalog, ...(state ? ['--state', tmpJson(state)] : [])]
          .map((a) => `"${a}"`)
          .join(' ');
        const out = tmpJson('', 'messages.jsonl');
        const err = tmpJson('', 'tap.stderr');
        const r = await run('bash', [
          '-o',
          'pipefail',
          '-c',
          `"${process.execPath}" "${TAP_BIN}" ${args} 2>"${err}" | tee "${out}" | "${TOOLS.targetPostgres}" --config "${targetConfig}"`,
        ]);
        stderr = readFileSync(err, 'utf8');
        expect(r.code, `${stderr.slice(-2000)}\n${r.stderr.slice(-2000)}`).toBe(0);
        const messages = parseMessages(readFileSync(out, 'utf8'));
        return { messages, state: lastState(messages)! };
      };
      const deletes = (messages: Record<string, any>[], stream: string) =>
        records(messages, stream).filter((r) => r._sdc_deleted_at !== null);

      // the initial copies, in the slots' snapshots
      let { state } = await load();
      await compareAll();
      // every materialization in the published schema has a replica identity now: no warning of broken refreshes
      expect(stderr).not.toMatch(/refreshes that rewrite a materialized bucket fail/);

      // a vanished (bucket, group): every row of device 2 in one hour deleted; the scheduler refreshes both aggregates
      const [{ gone }] = await db.sql<{ gone: string }>(
        `SELECT to_char(time_bucket('1 hour', now() - interval '10 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS gone`,
      );
      await db.sql(`DELETE FROM readings WHERE time_bucket('1 hour', ts) = $1::timestamptz AND device = 2`, [gone]);
      await policiesRan(await clock());
      let r = await load(state);
      state = r.state;
      await compareAll();
      expect(deletes(r.messages, 'public-readings_hourly').some((x) => x.bucket === gone && x.device === 2)).toBe(true);
      const [{ n }] = await dest.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM loaded.readings_hourly WHERE bucket = $1::timestamptz AT TIME ZONE 'UTC' AND device = 2 AND _sdc_deleted_at IS NOT NULL`,
        [gone],
      );
      expect(n).toBe(1);

      // a moved group: device 2's rows of another hour become device 3's
      const [{ moved }] = await db.sql<{ moved: string }>(
        `SELECT to_char(time_bucket('1 hour', now() - interval '20 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS moved`,
      );
      await db.sql(`UPDATE readings SET device = 3 WHERE time_bucket('1 hour', ts) = $1::timestamptz AND device = 2`, [moved]);
      await policiesRan(await clock());
      r = await load(state);
      state = r.state;
      await compareAll();
      const hourly = records(r.messages, 'public-readings_hourly');
      expect(hourly.some((x) => x.bucket === moved && x.device === 2 && x._sdc_deleted_at !== null)).toBe(true);
      expect(hourly.some((x) => x.bucket === moved && x.device === 3 && x._sdc_deleted_at === null)).toBe(true);

      // 2 days ago is outside the hourly policy's window (1 day): a device's rows deleted and late rows of a new
      // device there change nothing until a user refreshes that window by hand; the daily policy (3 days) follows
      const [{ old }] = await db.sql<{ old: string }>(
        `SELECT to_char(time_bucket('1 hour', now() - interval '2 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS old`,
      );
      await db.sql(`DELETE FROM readings WHERE time_bucket('1 hour', ts) = $1::timestamptz AND device = 1`, [old]);
      await db.sql(`INSERT INTO readings SELECT $1::timestamptz + g * interval '10 minutes', 7, 1000 + g FROM generate_series(0, 5) g`, [
        old,
      ]);
      await policiesRan(await clock());
      r = await load(state);
      state = r.state;
      await compareAll();
      expect(records(r.messages, 'public-readings_hourly').filter((x) => x.bucket === old)).toEqual([]);
      const since = await clock();
      await db.sql(
        `CALL refresh_continuous_aggregate('readings_hourly', $1::timestamptz - interval '1 hour', $1::timestamptz + interval '2 hours')`,
        [old],
      );
      await policiesRan(since);
      r = await load(state);
      state = r.state;
      await compareAll();
      expect(deletes(r.messages, 'public-readings_hourly').some((x) => x.bucket === old && x.device === 1)).toBe(true);
      expect(
        records(r.messages, 'public-readings_hourly').some((x) => x.bucket === old && x.device === 7 && x._sdc_deleted_at === null),
      ).toBe(true);
      expect(records(r.messages, 'public-readings_daily').some((x) => x.device === 7 && x._sdc_deleted_at === null)).toBe(true);

      // nothing changed since: the scheduler's runs rewrite nothing, and the run brings no record
      await policiesRan(await clock());
      r = await load(state);
      expect(records(r.messages)).toEqual([]);
      await compareAll();

      // the scheduler never failed a refresh while the publication covered the materializations' chunks
      const failures = await db.sql<{ f: number }>(
        `SELECT coalesce(sum(total_failures), 0)::int AS f FROM timescaledb_information.job_stats WHERE job_id = ANY($1::int[])`,
        [Object.values(jobs)],
      );
      expect(failures[0]!.f).toBe(0);
      // and the aggregate the tap does not read, given the replica identity it asked for, refreshes under the publication
      await db.sql(`DELETE FROM readings WHERE time_bucket('1 hour', ts) = $1::timestamptz`, [moved]);
      await db.sql(`CALL refresh_continuous_aggregate('readings_live', NULL, now() - interval '4 hours')`);
      // five waits for the background scheduler, each up to 90 s (the test took 15–69 s in CI runs)
    }, 480_000);
  },
);
