import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { mostCopiesAtOnce } from '../helpers/copy-watcher.js';
import { sourceNotes } from '../helpers/hypertable-fixtures.js';

const MID_SYNC_PLUGIN = resolve(__dirname, '../fixtures/mid-sync-plugin.mjs');

/** `name`: one row every 20 minutes per device (2 devices) over the last `days` days, in 1-day chunks, relative to now() (policies act on age). */
async function createRecentHypertable(db: TestDatabase, name: string, days: number): Promise<void> {
  await db.sql(`
    CREATE TABLE ${name} (ts timestamptz NOT NULL, device int NOT NULL, value double precision, note text NOT NULL);
    SELECT create_hypertable('${name}', by_range('ts', interval '1 day'));
    INSERT INTO ${name}
      SELECT t, d, d * 0.5, 'n' || row_number() OVER (ORDER BY t, d)
        FROM generate_series(date_trunc('day', now()) - interval '${days - 1} days', now(), interval '20 minutes') t, generate_series(1, 2) d;`);
}

/** SQL that makes the scheduler run job `id` now and waits until it has succeeded `successes` times (two statements: the first must commit). */
function runJobByScheduler(id: number, successes = 1): string[] {
  return [
    `SELECT alter_job(${id}, scheduled => true, next_start => now())`,
    `DO $$ DECLARE deadline timestamptz := clock_timestamp() + interval '90 seconds'; BEGIN
       WHILE NOT EXISTS (SELECT 1 FROM timescaledb_information.job_stats WHERE job_id = ${id} AND total_successes >= ${successes}) LOOP
         IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'job ${id} did not run'; END IF;
         PERFORM pg_sleep(0.1);
       END LOOP; END $$`,
  ];
}

/** A policy's job, created unscheduled so that only the test decides when the scheduler runs it. */
async function pausedJob(db: TestDatabase, addPolicy: string): Promise<number> {
  const [{ id }] = await db.sql<{ id: number }>(`SELECT ${addPolicy} AS id`);
  await db.sql(`SELECT alter_job(${id}, scheduled => false)`);
  return id;
}

/**
 * What only a real TimescaleDB server has: several connections, the background scheduler running
 * policies, imported snapshots. (The hypertable suites run on this server and the embedded engine alike.)
 */
describe.skipIf(!!nativeTimescaleSkipReason && !process.env.CI)('native TimescaleDB 2.28: concurrency, background jobs, snapshots', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
  });
  afterAll(async () => db?.close());

  it('max_concurrent_chunks 3 on a hypertable: COPYs of several chunks run at once, every row exactly once', async () => {
    await db.sql(`CREATE TABLE wide (ts timestamptz NOT NULL, note text NOT NULL, pad text);
      SELECT create_hypertable('wide', by_range('ts', interval '1 day'));
      INSERT INTO wide SELECT '2024-01-01'::timestamptz + g * interval '1 second', 'w' || g, repeat('x', 200) FROM generate_series(0, 6 * 86400 - 1, 2) g;`);
    const config = tmpJson({ url: db.url, application_name: 'tap-concurrency', max_concurrent_chunks: 3 });
    const catalog = tmpJson(select(await discover(config), { 'public-wide': {} }));
    const { result: run, most } = await mostCopiesAtOnce(db.url, 'tap-concurrency', ['active'], () =>
      runTap(['--config', config, '--catalog', catalog]),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('public-wide: reading up to 3 chunks at once');
    const notes = records(run.messages).map((r) => r.note);
    expect(notes.length).toBe(new Set(notes).size);
    expect(notes.sort()).toEqual(await sourceNotes(db, 'wide'));
    expect(most, 'COPYs active at once, sampled from pg_stat_activity').toBeGreaterThanOrEqual(2);
  });

  it('a compression policy and a retention policy run by the scheduler during a sync: what exists arrives once, chunks counted by their kind when read', async () => {
    await createRecentHypertable(db, 'aging', 20);
    await db.sql(`ALTER TABLE aging SET (timescaledb.compress, timescaledb.compress_segmentby = 'device')`);
    const compressJob = await pausedJob(db, `add_compression_policy('aging', interval '5 days')`);
    const retainJob = await pausedJob(db, `add_retention_policy('aging', interval '17 days')`);
    const before = await sourceNotes(db, 'aging');
    const [{ n: chunksBefore }] = await db.sql<{ n: number }>(`SELECT count(*)::int AS n FROM show_chunks('aging')`);
    const plugins = [
      {
        module: MID_SYNC_PLUGIN,
        options: { stream: 'public-aging', afterPartitions: 1, sql: [...runJobByScheduler(compressJob), ...runJobByScheduler(retainJob)] },
      },
    ];
    const metricsFile = join(dirname(tmpJson({})), 'metrics.json');
    // the hook waits for jobs that lock chunks: with the read ahead (chunk_prefetch) the next chunk's transaction
    // would hold a lock they wait for, while the reader waits for the hook
    const config = tmpJson({ url: db.url, plugins, metrics_file: metricsFile, chunk_prefetch: false });
    const run = await runTap([
      '--config',
      config,
      '--catalog',
      tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-aging': {} })),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('mid-sync plugin ran its SQL after 1 partitions');
    const [{ compressed, remaining }] = await db.sql<{ compressed: number; remaining: number }>(
      `SELECT count(*) FILTER (WHERE is_compressed)::int AS compressed, count(*)::int AS remaining FROM timescaledb_information.chunks WHERE hypertable_name = 'aging'`,
    );
    expect(compressed, 'the policy compressed chunks during the sync').toBeGreaterThan(5);
    expect(remaining, 'the policy dropped chunks during the sync').toBeLessThan(chunksBefore);
    expect(run.stderr).toMatch(/WARN public-aging: chunk .* was dropped (since discovery|during its read)/);
    const notes = records(run.messages).map((r) => r.note);
    expect(notes.length, 'no row twice').toBe(new Set(notes).size);
    const now = await sourceNotes(db, 'aging');
    expect(
      now.filter((n) => !notes.includes(n)),
      'every row that still exists arrived',
    ).toEqual([]);
    expect(notes.filter((n) => !before.includes(n))).toEqual([]);
    // every chunk was plain when listed; the summary counts those the policy compressed before their read as compressed
    const summary = JSON.parse(readFileSync(metricsFile, 'utf8')).streams['public-aging'];
    expect(summary.chunks.compressed, JSON.stringify(summary.chunks)).toBeGreaterThan(0);
  });

  it('a continuous aggregate refreshed by its policy between two syncs: each sync equals the aggregate as it is', async () => {
    await createRecentHypertable(db, 'readings', 4);
    await db.sql(`CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
        SELECT time_bucket('1 hour', ts) AS bucket, device, count(*) AS n, avg(value) AS avg_value FROM readings GROUP BY 1, 2 WITH NO DATA`);
    const refreshJob = await pausedJob(
      db,
      `add_continuous_aggregate_policy('readings_hourly', start_offset => interval '10 days', end_offset => interval '1 hour', schedule_interval => interval '1 hour')`,
    );
    const config = tmpJson({ url: db.url, plugins: [] });
    const catalog = tmpJson(select(await discover(config), { 'public-readings_hourly': {} }));
    const view = async () =>
      (await db.sql<{ k: string }>(`SELECT bucket::text || '/' || device || '/' || n AS k FROM readings_hourly`)).map((r) => r.k).sort();
    const asRecords = (run: Awaited<ReturnType<typeof runTap>>) =>
      records(run.messages)
        .map((r) => `${new Date(r.bucket).toISOString().replace('T', ' ').replace('.000Z', '+00')}/${r.device}/${r.n}`)
        .sort();

    const empty = await runTap(['--config', config, '--catalog', catalog]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(records(empty.messages), 'nothing materialized yet').toEqual([]);
    for (const sql of runJobByScheduler(refreshJob)) await db.sql(sql);
    const first = await runTap(['--config', config, '--catalog', catalog]);
    expect(first.code, first.stderr).toBe(0);
    expect(asRecords(first).length).toBeGreaterThan(100);
    expect(asRecords(first)).toEqual(await view());

    // late rows in an old bucket, inside the policy's window: the next refresh rewrites that bucket
    await db.sql(
      `INSERT INTO readings SELECT date_trunc('day', now()) - interval '2 days' + interval '5 minutes', 1, 9, 'late' || g FROM generate_series(1, 7) g`,
    );
    for (const sql of runJobByScheduler(refreshJob, 2)) await db.sql(sql);
    const second = await runTap(['--config', config, '--catalog', catalog]);
    expect(second.code, second.stderr).toBe(0);
    expect(asRecords(second)).toEqual(await view());
    expect(
      asRecords(second).filter((k) => !asRecords(first).includes(k)),
      'the refreshed bucket, with the late rows counted',
    ).toHaveLength(1);
  });

  it('a chunk decompressed during a consistent_snapshot sync: the sync stops saying so, and the resume completes exactly', async () => {
    await db.sql(`CREATE TABLE frozen (ts timestamptz NOT NULL, note text NOT NULL);
      SELECT create_hypertable('frozen', by_range('ts', interval '1 day'));
      INSERT INTO frozen SELECT '2024-02-01'::timestamptz + g * interval '10 minutes', 'f' || g FROM generate_series(0, 6 * 144 - 1) g;
      ALTER TABLE frozen SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('frozen') c;`);
    const [{ c: last }] = await db.sql<{ c: string }>(`SELECT c::text AS c FROM show_chunks('frozen') c ORDER BY c::text DESC LIMIT 1`);
    const plugins = [
      { module: MID_SYNC_PLUGIN, options: { stream: 'public-frozen', afterPartitions: 1, sql: `SELECT decompress_chunk('${last}')` } },
    ];
    const catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-frozen': {} }));
    const args = ['--config', tmpJson({ url: db.url, consistent_snapshot: true, plugins }), '--catalog', catalog];
    const stopped = await runTap(args);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toMatch(
      /CRITICAL .*was decompressed during this sync, after its consistent snapshot was taken.*run the tap again with that STATE/,
    );
    expect(stopped.stderr).not.toContain('TimescaleDB is not active');
    const state = lastState(stopped.messages)!;
    const resumed = await runTap([
      '--config',
      tmpJson({ url: db.url, consistent_snapshot: true }),
      '--catalog',
      catalog,
      '--state',
      tmpJson(state),
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const notes = [...records(stopped.messages), ...records(resumed.messages)].map((r) => r.note);
    expect(notes.length, 'no row twice: the stop came before the chunk was read').toBe(new Set(notes).size);
    expect(notes.sort()).toEqual(await sourceNotes(db, 'frozen'));
  });

  it('a chunk compressed during a consistent_snapshot sync: every row of it arrives (resuming if the sync stopped)', async () => {
    await db.sql(`CREATE TABLE thawed (ts timestamptz NOT NULL, note text NOT NULL);
      SELECT create_hypertable('thawed', by_range('ts', interval '1 day'));
      INSERT INTO thawed SELECT '2024-02-01'::timestamptz + g * interval '10 minutes', 't' || g FROM generate_series(0, 6 * 144 - 1) g;
      ALTER TABLE thawed SET (timescaledb.compress);`);
    const [{ c: last }] = await db.sql<{ c: string }>(`SELECT c::text AS c FROM show_chunks('thawed') c ORDER BY c::text DESC LIMIT 1`);
    const plugins = [
      { module: MID_SYNC_PLUGIN, options: { stream: 'public-thawed', afterPartitions: 1, sql: `SELECT compress_chunk('${last}')` } },
    ];
    const catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-thawed': {} }));
    const first = await runTap(['--config', tmpJson({ url: db.url, consistent_snapshot: true, plugins }), '--catalog', catalog]);
    const state = lastState(first.messages)!;
    const resumed =
      first.code === 0
        ? first
        : await runTap(['--config', tmpJson({ url: db.url, consistent_snapshot: true }), '--catalog', catalog, '--state', tmpJson(state)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const notes = [...records(first.messages), ...(resumed === first ? [] : records(resumed.messages))].map((r) => r.note);
    expect(notes.sort()).toEqual(await sourceNotes(db, 'thawed'));
  });
});
