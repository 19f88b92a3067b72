import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import { streamMetadata, type Catalog } from '../../src/core/singer/catalog.js';
import { compareBookmarkValues, singerProblems } from '../helpers/singer-rules.js';

/**
 * The Singer rules, knowing that the hourly aggregate resumes from bookmark - start_offset (2 days), not
 * from the bookmark: a record up to 2 days below a STATE's bookmark is re-read by a resumed run, not lost.
 */
const rules = (stdout: string): string[] =>
  singerProblems(stdout, {
    compare: (stream, a, b) =>
      stream === 'public-metrics_hourly' && Math.abs(Date.parse(String(a)) - Date.parse(String(b))) <= 2 * 86_400_000
        ? 0
        : compareBookmarkValues(a, b),
  });

/** 5 days of hourly rows for 3 devices; an hourly aggregate with a refresh policy, and a daily one on top of it. */
const SCHEMA_SQL = `
  CREATE TABLE metrics (ts timestamptz NOT NULL, device int NOT NULL, v double precision NOT NULL);
  SELECT create_hypertable('metrics', by_range('ts', interval '1 day'));
  INSERT INTO metrics SELECT '2024-01-01'::timestamptz + (g / 3) * interval '1 hour', g % 3, g FROM generate_series(0, 5 * 24 * 3 - 1) g;
  CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
  INSERT INTO sites (id, name) VALUES (1, 'north'), (2, 'south');
  CREATE MATERIALIZED VIEW metrics_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
    SELECT time_bucket('1 hour', ts) AS bucket, device, avg(v) AS avg_v, count(*) AS n FROM metrics GROUP BY 1, 2 WITH NO DATA;
  -- the job never runs by itself here (the embedded engine has no background workers, the native one waits a day)
  SELECT add_continuous_aggregate_policy('metrics_hourly', start_offset => interval '2 days', end_offset => interval '1 hour',
    schedule_interval => interval '1 hour', initial_start => now() + interval '1 day');
  CREATE MATERIALIZED VIEW metrics_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
    SELECT time_bucket('1 day', bucket) AS day, device, sum(n) AS n FROM metrics_hourly GROUP BY 1, 2 WITH NO DATA;`;

/** The aggregate's rows as the tap emits them, keyed by bucket and device. */
async function aggregateRows(db: TestDatabase, view: string, bucket: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = await db.sql(`SELECT to_char(${bucket} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS b, * FROM ${view}`);
  return new Map(rows.map((r) => [`${r.b}|${r.device}`, { ...r, [bucket]: r.b, n: Number(r.n), b: undefined }]));
}

function upsert(into: Map<string, Record<string, unknown>>, rows: Record<string, any>[], bucket: string): void {
  for (const r of rows) into.set(`${r[bucket]}|${r.device}`, { ...r, n: Number(r.n) });
}

describeOnEngines('time-series defaults: hypertables and continuous aggregates are INCREMENTAL out of the box', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    await db.sql(SCHEMA_SQL);
    // CALL cannot run in the implicit transaction of a multi-statement query
    await db.sql(`CALL refresh_continuous_aggregate('metrics_hourly', NULL, '2024-01-05 00:00+00')`);
    await db.sql(`CALL refresh_continuous_aggregate('metrics_daily', NULL, '2024-01-05 00:00+00')`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('discovery: a hypertable INCREMENTAL on its time column, a plain table without a method (FULL_TABLE), aggregates keyed by bucket + GROUP BY', () => {
    const metrics = streamMetadata(streamEntry(catalog, 'public-metrics'));
    expect(metrics).toMatchObject({ 'replication-method': 'INCREMENTAL', 'replication-key': 'ts' });
    expect((metrics['valid-replication-keys'] as string[])[0]).toBe('ts');
    const sites = streamMetadata(streamEntry(catalog, 'public-sites'));
    expect(sites['replication-method']).toBeUndefined();
    expect(sites['replication-key']).toBeUndefined();

    const hourly = streamEntry(catalog, 'public-metrics_hourly');
    expect(hourly.key_properties).toEqual(['bucket', 'device']);
    const md = streamMetadata(hourly);
    expect(md).toMatchObject({
      'replication-method': 'INCREMENTAL',
      'replication-key': 'bucket',
      'table-key-properties': ['bucket', 'device'],
    });
    expect(md['timescaledb.continuous_aggregate']).toMatchObject({
      source: { schema: 'public', name: 'metrics', kind: 'hypertable' },
      bucket_column: 'bucket',
      group_by: ['device'],
      materialized_only: true,
      refresh_policy: { start_offset: '2 days', end_offset: '01:00:00' },
      watermark: '2024-01-05T00:00:00Z',
    });
    expect(String((md['timescaledb.continuous_aggregate'] as Record<string, unknown>).bucket_width)).toMatch(/^(01:00:00|1 hour)$/);
    expect(hourly.metadata.find((m) => m.breadcrumb[1] === 'device')!.metadata.inclusion).toBe('automatic');

    const daily = streamEntry(catalog, 'public-metrics_daily');
    expect(daily.key_properties).toEqual(['day', 'device']);
    expect(streamMetadata(daily)).toMatchObject({ 'replication-method': 'INCREMENTAL', 'replication-key': 'day' });
    expect(streamMetadata(daily)['timescaledb.continuous_aggregate']).toMatchObject({
      source: { schema: 'public', name: 'metrics_hourly', kind: 'continuous_aggregate' },
      bucket_column: 'day',
      group_by: ['device'],
      refresh_policy: null,
      watermark: '2024-01-05T00:00:00Z',
    });
  });

  it('a catalog that only selects syncs hypertable and aggregates incrementally; the aggregate re-reads bookmark - start_offset after a refresh, and the upserted records equal the view', async () => {
    const cat = tmpJson(
      select(catalog, {
        'public-metrics': { discovered: true },
        'public-metrics_hourly': { discovered: true },
        'public-metrics_daily': { discovered: true },
        'public-sites': { discovered: true },
      }),
    );
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(rules(first.stdout)).toEqual([]);
    expect(first.stderr).toMatch(/public-metrics: INCREMENTAL on ts with reader timescaledb-chunks/);
    expect(first.stderr).toMatch(/public-metrics_hourly: INCREMENTAL on bucket with reader timescaledb-continuous-aggregate/);
    expect(first.stderr).toMatch(/public-sites: FULL_TABLE/);
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-metrics']).toMatchObject({ replication_key: 'ts', replication_key_value: '2024-01-05T23:00:00Z' });
    // the newest materialized bucket: below the watermark (2024-01-05 00:00)
    expect(state.bookmarks['public-metrics_hourly']).toMatchObject({
      replication_key: 'bucket',
      replication_key_value: '2024-01-04T23:00:00Z',
    });
    expect(state.bookmarks['public-metrics_daily']).toMatchObject({
      replication_key: 'day',
      replication_key_value: '2024-01-04T00:00:00Z',
    });
    const target = new Map<string, Record<string, unknown>>();
    upsert(target, records(first.messages, 'public-metrics_hourly'), 'bucket');
    expect(target).toEqual(await aggregateRows(db, 'metrics_hourly', 'bucket'));
    expect(records(first.messages, 'public-metrics_daily')).toHaveLength(4 * 3);

    // a late row inside the policy's window (a day before the bookmark), new rows, and a refresh
    await db.sql(`INSERT INTO metrics VALUES ('2024-01-03 23:30+00', 1, 1000), ('2024-01-06 00:30+00', 2, 7)`);
    await db.sql(`CALL refresh_continuous_aggregate('metrics_hourly', '2024-01-03 00:00+00', '2024-01-06 00:00+00')`);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(second.code, second.stderr).toBe(0);
    expect(rules(second.stdout)).toEqual([]);
    // hypertable: the rows at the bookmark (>=) and the new one; nothing older
    expect(
      records(second.messages, 'public-metrics')
        .map((r) => r.ts)
        .sort(),
    ).toEqual(['2024-01-05T23:00:00Z', '2024-01-05T23:00:00Z', '2024-01-05T23:00:00Z', '2024-01-06T00:30:00Z']);
    const hourly = records(second.messages, 'public-metrics_hourly');
    expect(second.stderr).toContain(`public-metrics_hourly: continuous aggregate read from 2024-01-02 23:00:00+00`);
    expect(hourly.every((r) => r.bucket >= '2024-01-02T23:00:00Z')).toBe(true);
    expect(hourly.find((r) => r.bucket === '2024-01-03T23:00:00Z' && r.device === 1)).toMatchObject({ n: 2 });
    upsert(target, hourly, 'bucket');
    expect(target).toEqual(await aggregateRows(db, 'metrics_hourly', 'bucket'));
    expect(lastState(second.messages)!.bookmarks['public-metrics_hourly'].replication_key_value).toBe('2024-01-05T23:00:00Z');
  });

  it('a policy without start_offset re-reads the whole aggregate; a manual refresh older than the window is not seen (the documented limit)', async () => {
    await db.sql(`CREATE MATERIALIZED VIEW metrics_all WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
      SELECT time_bucket('1 day', ts) AS day, count(*) AS n FROM metrics GROUP BY 1 WITH NO DATA`);
    await db.sql(`SELECT add_continuous_aggregate_policy('metrics_all', start_offset => NULL, end_offset => interval '1 day',
      schedule_interval => interval '1 hour', initial_start => now() + interval '1 day')`);
    await db.sql(`CALL refresh_continuous_aggregate('metrics_all', NULL, '2024-01-06 00:00+00')`);
    // a real-time aggregate with nothing materialized: every bucket can still change, so no bookmark yet
    await db.sql(`CREATE MATERIALIZED VIEW metrics_rt WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket('1 day', ts) AS day, device, count(*) AS n FROM metrics GROUP BY 1, 2 WITH NO DATA`);
    const ids = ['public-metrics_all', 'public-metrics_hourly', 'public-metrics_rt'];
    const cat = tmpJson(select(await discover(config), Object.fromEntries(ids.map((id) => [id, { discovered: true }]))));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    const [{ rt }] = await db.sql<{ rt: string }>('SELECT count(*) AS rt FROM metrics_rt');
    expect(records(first.messages, 'public-metrics_rt')).toHaveLength(Number(rt));
    expect(Number(rt)).toBeGreaterThan(0);
    expect(lastState(first.messages)!.bookmarks['public-metrics_rt'].replication_key_value).toBeUndefined();
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(first.messages)!)]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('public-metrics_all: continuous aggregate read in full (its refresh policy has no start_offset)');
    const [{ n }] = await db.sql<{ n: string }>('SELECT count(*) AS n FROM metrics_all');
    expect(records(second.messages, 'public-metrics_all')).toHaveLength(Number(n));

    // a late row days older than the hourly policy's 2-day window, refreshed by hand: INCREMENTAL does not see it
    await db.sql(`INSERT INTO metrics VALUES ('2024-01-01 05:30+00', 1, 1)`);
    await db.sql(`CALL refresh_continuous_aggregate('metrics_hourly', '2024-01-01 00:00+00', '2024-01-02 00:00+00')`);
    const third = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(second.messages)!)]);
    expect(third.code, third.stderr).toBe(0);
    expect(records(third.messages, 'public-metrics_hourly').some((r) => r.bucket === '2024-01-01T05:00:00Z')).toBe(false);
    expect((await db.sql(`SELECT n FROM metrics_hourly WHERE bucket = '2024-01-01 05:00+00' AND device = 1`))[0]!.n).toBe('2');
  });

  it("an aggregate on integer time: watermark, bookmark and the start_offset window in the column's units", async () => {
    await db.sql(`
      CREATE TABLE ticks (t int8 NOT NULL, d int NOT NULL, v int NOT NULL);
      SELECT create_hypertable('ticks', by_range('t', 100));
      CREATE FUNCTION ticks_now() RETURNS int8 LANGUAGE SQL STABLE AS 'SELECT coalesce(max(t), 0) FROM ticks';
      SELECT set_integer_now_func('ticks', 'ticks_now');
      INSERT INTO ticks SELECT g, g % 2, g FROM generate_series(1, 1000) g;
      CREATE MATERIALIZED VIEW ticks_10 WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT time_bucket(10::int8, t) AS b, d, count(*) AS n FROM ticks GROUP BY 1, 2 WITH NO DATA;
      SELECT add_continuous_aggregate_policy('ticks_10', start_offset => 200::int8, end_offset => 10::int8,
        schedule_interval => interval '1 hour', initial_start => now() + interval '1 day');`);
    await db.sql(`CALL refresh_continuous_aggregate('ticks_10', NULL, 900)`);
    const discovered = await discover(config);
    expect(streamMetadata(streamEntry(discovered, 'public-ticks_10'))['timescaledb.continuous_aggregate']).toMatchObject({
      bucket_column: 'b',
      group_by: ['d'],
      refresh_policy: { start_offset: '200', end_offset: '10' },
      watermark: 900,
    });
    const cat = tmpJson(select(discovered, { 'public-ticks_10': { discovered: true } }));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    // real-time buckets 900..1000 emitted, the bookmark at the watermark
    expect(records(first.messages, 'public-ticks_10')).toHaveLength(201);
    expect(lastState(first.messages)!.bookmarks['public-ticks_10'].replication_key_value).toBe(900);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(first.messages)!)]);
    expect(second.stderr).toContain('public-ticks_10: continuous aggregate read from 700;');
    expect(
      records(second.messages, 'public-ticks_10')
        .map((r) => r.b)
        .sort((a, b) => a - b)[0],
    ).toBe(700);
  });

  it("a user's metadata overrides the defaults: FULL_TABLE on the hypertable and the aggregate", async () => {
    const cat = tmpJson(select(catalog, { 'public-metrics': { method: 'FULL_TABLE' }, 'public-metrics_hourly': { method: 'FULL_TABLE' } }));
    const run = await runTap(['--config', config, '--catalog', cat]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/public-metrics: FULL_TABLE/);
    expect(run.stderr).toMatch(/public-metrics_hourly: FULL_TABLE with reader copy-table/);
    expect(run.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toHaveLength(4);
    const [{ n }] = await db.sql<{ n: string }>('SELECT count(*) AS n FROM metrics');
    expect(records(run.messages, 'public-metrics')).toHaveLength(Number(n));
  });

  it('activate_version: false leaves ACTIVATE_VERSION out of FULL_TABLE syncs', async () => {
    const cat = tmpJson(select(catalog, { 'public-sites': { discovered: true } }));
    const on = await runTap(['--config', config, '--catalog', cat]);
    expect(on.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toHaveLength(2);
    const off = await runTap(['--config', tmpJson({ url: db.url, activate_version: false }), '--catalog', cat]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toHaveLength(0);
    expect(records(off.messages, 'public-sites')).toHaveLength(2);
  });
});
