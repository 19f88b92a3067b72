import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psqlCounted, psqlDevNull, type Target } from '../../bench/contenders.js';
import { BENCH_SLOT, logBasedSection } from '../../bench/log-based-scenario.js';
import { chunkCounts, makeChanges, makeHypertables, makeSubset, TIMESCALE_TABLES, type TableMaker } from '../../bench/timescale-tables.js';
import { pinningMissing, WORKER_COUNTS, workersSection } from '../../bench/workers-scenario.js';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';

/**
 * The bench's native TimescaleDB sections hold what bench/README.md says of them: issue #18's table shape
 * (50 one-day chunks, the oldest 10 compressed, millisecond timestamps, 17-digit doubles), a plain table of
 * the very same rows, the Python subset's chunks in its own schema, psql's line count equal to the server's
 * count, and a LOG_BASED line that emits one record per updated row and leaves no slot behind. Small tables:
 * the figures are the bench's business, the shapes are this test's. The tap runs built (npm run build).
 */
describe.skipIf(!!nativeTimescaleSkipReason)('bench: native TimescaleDB tables and sections', () => {
  let db: TestDatabase;
  let maker: TableMaker;
  let target: Target;
  const t = TIMESCALE_TABLES;
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
    maker = { sql: (text) => db.sql(text), make: async (_name, _n, build) => void (await db.sql(build)) };
    const url = new URL(db.url);
    target = { host: url.hostname, port: Number(url.port), database: url.pathname.slice(1), url: db.url };
  }, 120_000);
  afterAll(async () => db?.close());

  it("hypertable: 50 one-day chunks, the oldest 10 compressed, #18's data; the plain table holds the same rows", async () => {
    const n = 20_000;
    await makeHypertables(maker, n);
    expect(await chunkCounts(db.sql, t.hypertable)).toEqual({ chunks: 50, compressed: 10 });
    const [oldest] = await db.sql(
      `SELECT bool_and(is_compressed = (range_start < '2024-01-11 00:00:00+00')) AS ok FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics_ht'`,
    );
    expect(oldest!.ok).toBe(true);
    const [shape] = await db.sql(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE date_trunc('second', ts) <> ts)::int AS millis,
              count(*) FILTER (WHERE length(value::text) >= 17)::int AS long_doubles, count(DISTINCT (device_id, ts))::int AS keys
         FROM ${t.hypertable}`,
    );
    expect(shape!.n).toBe(n);
    expect(shape!.millis).toBeGreaterThan(n * 0.9);
    expect(shape!.long_doubles).toBeGreaterThan(n * 0.5);
    expect(shape!.keys).toBe(n); // (device_id, ts) is unique: the keyed table's key holds
    const digest = (table: string) => `SELECT md5(string_agg(x::text, ',' ORDER BY x.ts, x.device_id)) AS d FROM ${table} x`;
    const [a] = await db.sql(digest(t.hypertable));
    const [b] = await db.sql(digest(t.plain));
    expect(b!.d).toBe(a!.d);
  }, 120_000);

  it("psql's COPY: its lines equal the server's count; into /dev/null the rows are the count given, and a failure is not a figure", async () => {
    const counted = await psqlCounted(target, t.hypertable).run();
    expect(counted.rows).toBe(20_000);
    const discarded = await psqlDevNull(target, t.hypertable, 20_000).run();
    expect(discarded).toMatchObject({ rows: 20_000, bytes: 0 });
    await expect(psqlDevNull(target, 'public.no_such_table', 1).run()).rejects.toThrow(/no_such_table/);
  }, 60_000);

  it("the Python subset's chunks live in its own schema (what the Python taps' schema filter lists)", async () => {
    await makeSubset(maker, 5_000);
    expect(await chunkCounts(db.sql, t.subset)).toEqual({ chunks: 50, compressed: 10 });
    const schemas = await db.sql(
      `SELECT DISTINCT chunk_schema FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics_ht_sub'`,
    );
    expect(schemas.map((r) => r.chunk_schema)).toEqual(['bench_ht_sub']);
  }, 120_000);

  it('LOG_BASED line: one record per updated row, FULL_TABLE beside it, and the slot dropped at the end', async () => {
    const n = 3_000;
    await makeChanges(maker, n);
    const rows = await logBasedSection(target, db.sql, 1, () => undefined);
    expect(rows.map((r) => [r.name, r.rows, r.skipped])).toEqual([
      ['tap LOG_BASED, first run (initial copy)', n, undefined],
      ['tap LOG_BASED, next run (the UPDATE)', n, undefined],
      ['tap FULL_TABLE (same table)', n, undefined],
    ]);
    expect(rows[1]!.extra!['changes/s over FULL_TABLE rows/s']).toMatch(/^\d+%$/);
    expect(await db.sql(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = '${BENCH_SLOT}'`)).toEqual([]);
  }, 180_000);

  it('workers section: transcode_workers 0, 1, 2 each emit every row, unpinned and with the server pinned to CPU 0; the affinity is restored', async () => {
    const n = 20_000; // the hypertable of the first test
    const [backend] = await db.sql(`SELECT pg_backend_pid() AS pid`);
    const stat = readFileSync(`/proc/${backend!.pid}/stat`, 'utf8');
    const postmaster = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]!;
    const affinity = () => /list:\s*(\S+)/.exec(spawnSync('taskset', ['-p', '-c', postmaster], { encoding: 'utf8' }).stdout)?.[1];
    const before = affinity();
    const logged: string[] = [];
    const rows = await workersSection(target, db.sql, 1, (m) => logged.push(m));
    const taps = WORKER_COUNTS.map((w) => `tap, transcode_workers ${w}`);
    const pinnedToo = pinningMissing() === undefined;
    expect(rows.map((r) => [r.name, r.rows, r.skipped])).toEqual(
      [1, ...(pinnedToo ? [2] : [])].flatMap(() => [
        ['psql COPY > /dev/null (limit)', n, undefined],
        ...taps.map((t) => [t, n, undefined]),
      ]),
    );
    for (const r of rows.filter((x) => x.name !== taps[0] && x.name.startsWith('tap'))) {
      expect(r.extra).toMatchObject({
        'reading thread CPU-s per M rows': expect.stringMatching(/^\d+\.\d\d$/),
        'worker threads CPU-s per M rows': expect.stringMatching(/^\d+\.\d\d$/),
        'CPU-s per M rows over transcode_workers 0': expect.stringMatching(/^[+-]\d+\.\d\d$/),
      });
    }
    if (pinnedToo) {
      expect(rows.at(-1)!.section).toContain('server pinned to CPU 0');
      expect(logged).toContain(`  server (postmaster ${postmaster} and its children) pinned to CPU 0 (was ${before})`);
    }
    expect(affinity()).toBe(before);
  }, 240_000);
});
