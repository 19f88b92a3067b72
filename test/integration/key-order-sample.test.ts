import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import type { Catalog } from '../../src/core/singer/catalog.js';
import { keyOrderSampleSql } from '../../src/core/readers/key-order-sample.js';

const ROWS = 120_000;
/** a role of the shared cluster: its name is this file's own */
const ROLE = `tap_columns_${process.pid}`;

/**
 * FULL_TABLE on keyed tables the server holds no statistics on (never analyzed, autovacuum off): the read
 * order comes from a sample of the table itself, not from the missing pg_stats row (which used to mean key
 * order, a sort of the whole table for a time series keyed by (device_id, ts)).
 */
describe.skipIf(nativeSkipReason !== undefined)('FULL_TABLE order on a keyed table without statistics (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE fresh_readings (device_id int, ts timestamptz, value float8, note text, PRIMARY KEY (device_id, ts)) WITH (autovacuum_enabled = false);
      INSERT INTO fresh_readings SELECT i % 500, '2024-01-01'::timestamptz + i * interval '1234 milliseconds', i * 0.5, repeat('n', 100)
        FROM generate_series(1, ${ROWS}) i;
      CREATE TABLE fresh_items (id int PRIMARY KEY, name text) WITH (autovacuum_enabled = false);
      INSERT INTO fresh_items SELECT g, 'item ' || g FROM generate_series(1, 20000) g;
      CREATE TABLE fresh_empty (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
      CREATE TABLE fresh_columns (id int PRIMARY KEY, v text, secret text) WITH (autovacuum_enabled = false);
      INSERT INTO fresh_columns SELECT g, 'v' || g, 's' FROM generate_series(1, 5000) g;
      CREATE TABLE analyzed_readings (LIKE fresh_readings INCLUDING ALL) WITH (autovacuum_enabled = false);
      INSERT INTO analyzed_readings SELECT * FROM fresh_readings;
      ANALYZE analyzed_readings;
      CREATE ROLE ${ROLE} LOGIN; GRANT USAGE ON SCHEMA public TO ${ROLE}; GRANT SELECT (id, v) ON fresh_columns TO ${ROLE};`);
    config = tmpJson({ url: db.url, state_every_n_rows: 20000 });
    catalog = await discover(config);
  });
  afterAll(async () => {
    await db?.sql(`DROP OWNED BY ${ROLE}; DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
    await db?.close();
  });

  it('the tables really have no statistics', async () => {
    const stats = await db.sql(`SELECT tablename FROM pg_stats WHERE tablename LIKE 'fresh_%'`);
    expect(stats).toEqual([]);
  });

  it('a key scattered over the pages: sampled, read in page ranges (resumable), every row once', async () => {
    const [size] = await db.sql<{ pages: string }>(`SELECT pg_relation_size('fresh_readings') / 8192 AS pages`);
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-fresh_readings': {} }))], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    const said =
      /DEBUG public-fresh_readings: page ranges: the key is scattered over the pages \(no statistics on the key \(never analyzed\): sampled (\d+) rows on (\d+) of (\d+) pages: correlation (-?[\d.]+)\)/.exec(
        run.stderr,
      );
    expect(said, run.stderr).not.toBeNull();
    const [, rows, sampled, pages, corr] = said!.map(Number);
    expect(pages).toBe(Number(size!.pages));
    // more than one range of 1024 pages
    expect(pages).toBeGreaterThan(2048);
    expect(sampled).toBe(64);
    expect(rows).toBe(64 * 8);
    expect(Math.abs(corr!)).toBeLessThan(0.9);
    expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
    const got = records(run.messages, 'public-fresh_readings');
    expect(got).toHaveLength(ROWS);
    expect(new Set(got.map((r) => `${r.device_id}|${r.ts}`)).size).toBe(ROWS);
    // resumable: each STATE names the pages done, none a key
    const bookmarks = run.messages.filter((m) => m.type === 'STATE').map((m) => m.value.bookmarks['public-fresh_readings']);
    expect(bookmarks.some((b) => b?.pages?.done_before > 0)).toBe(true);
    expect(bookmarks.some((b) => b?.last_pk_fetched)).toBe(false);
  });

  it('the same rows analyzed are read in the same page ranges, with the same plan, as without statistics', async () => {
    const streams = { 'public-fresh_readings': {}, 'public-analyzed_readings': {} };
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, streams))], { env: { TAP_LOG_LEVEL: 'debug' } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/DEBUG public-analyzed_readings: page ranges: the key is scattered over the pages \(correlation -?[\d.]+\)/);
    const ranges = (table: string): { statements: number; pages: number; of: number; perPage: string } => {
      const m = new RegExp(`DEBUG public-${table}: (\\d+) COPY statements, page ranges of (\\d+) pages over (\\d+) pages, (.*)`).exec(
        run.stderr,
      );
      expect(m, run.stderr).not.toBeNull();
      return { statements: Number(m![1]), pages: Number(m![2]), of: Number(m![3]), perPage: m![4]! };
    };
    const fresh = ranges('fresh_readings');
    const analyzed = ranges('analyzed_readings');
    // never vacuumed: pg_class has no rows a page, and the tap says what it assumed
    expect(fresh.perPage).toBe('100 rows a page assumed (never vacuumed or analyzed)');
    expect(analyzed.perPage).toMatch(/^[\d.]+ rows a page \(pg_class\)$/);
    expect(fresh.statements).toBeGreaterThan(2);
    expect({ ...fresh, perPage: undefined }).toEqual({ ...analyzed, perPage: undefined });
    // the same pages done after each range
    const done = (stream: string): number[] =>
      run.messages
        .filter((m) => m.type === 'STATE')
        .map((m) => m.value.bookmarks[stream]?.pages?.done_before as number | undefined)
        .filter((d): d is number => d !== undefined);
    expect(done('public-fresh_readings').length).toBeGreaterThan(0);
    expect([...new Set(done('public-fresh_readings'))]).toEqual([...new Set(done('public-analyzed_readings'))]);
    expect(records(run.messages, 'public-fresh_readings')).toHaveLength(ROWS);
    expect(records(run.messages, 'public-analyzed_readings')).toHaveLength(ROWS);
    // and the server reads a range of either table the same way: a TID Range Scan of those pages alone
    for (const table of ['fresh_readings', 'analyzed_readings']) {
      const plan = await db.sql<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT * FROM ${table} WHERE ctid >= '(1024,0)'::tid AND ctid < '(2048,0)'::tid`,
      );
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/^Tid Range Scan on \w+ /);
    }
  });

  it('a key in physical order is read in key order; an empty table, which a sample cannot judge, too', async () => {
    const run = await runTap(
      ['--config', config, '--catalog', tmpJson(select(catalog, { 'public-fresh_items': {}, 'public-fresh_empty': {} }))],
      { env: { TAP_LOG_LEVEL: 'debug' } },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /DEBUG public-fresh_items: key order: the key follows the physical order \(no statistics on the key \(never analyzed\): sampled 512 rows on 64 of \d+ pages: correlation 1\.00\)/,
    );
    expect(run.stderr).toContain(
      'DEBUG public-fresh_empty: key order: no statistics on the key (never analyzed): sampled 0 rows on 0 of 0 pages: no correlation to be had',
    );
    expect(records(run.messages, 'public-fresh_items').map((r) => r.id)).toEqual(Array.from({ length: 20000 }, (_, i) => i + 1));
    const states = run.messages.filter((m) => m.type === 'STATE');
    expect(states.some((m) => m.value.bookmarks['public-fresh_items']?.last_pk_fetched?.id === 20000)).toBe(true);
  });

  it('a role granted only some columns (no ctid) reads in key order, as without the sample, every row', async () => {
    const cat = select(catalog, { 'public-fresh_columns': { columns: ['id', 'v'] } });
    const run = await runTap(['--config', tmpJson({ url: db.url.replace('//postgres@', `//${ROLE}@`) }), '--catalog', tmpJson(cat)], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /DEBUG public-fresh_columns: key order: no statistics on the key, and no sample of the table \(.*permission denied for table fresh_columns/,
    );
    expect(records(run.messages, 'public-fresh_columns').map((r) => r.id)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
  });

  it("the sample's query reads the sampled pages by TID, not the whole table", async () => {
    const [rel] = await db.sql<{ oid: number }>(`SELECT 'public.fresh_readings'::regclass::oid AS oid`);
    const sql = keyOrderSampleSql({ schema: 'public', name: 'fresh_readings' }, 'device_id');
    const plan = await db.sql<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [rel!.oid]);
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Tid Scan on fresh_readings/);
    expect(text).not.toMatch(/Seq Scan on fresh_readings/);
  });
});
