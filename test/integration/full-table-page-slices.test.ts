import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/** rows generated; the first 300 pages' rows are deleted again */
const ROWS = 320_000;

/** One line per row, from a RECORD or from the table: the same text when the row is the same. */
function rowText(r: Record<string, any>): string {
  const ts = r.ts instanceof Date ? r.ts.getTime() : Date.parse(r.ts);
  return `${r.device_id}|${ts}|${r.name}|${r.value}|${JSON.stringify(r.attrs)}`;
}

function digest(lines: string[]): { count: number; sha: string } {
  const sorted = [...lines].sort();
  return { count: sorted.length, sha: createHash('sha256').update(sorted.join('\n')).digest('hex') };
}

/**
 * FULL_TABLE on a keyed table whose key is scattered over the pages (a time series keyed by
 * (device_id, ts), inserted in time order): read in page ranges, unordered, resumable.
 */
describe.skipIf(nativeSkipReason !== undefined)('FULL_TABLE in page ranges on native PostgreSQL', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  const source = async (): Promise<string[]> => (await db.sql(`SELECT device_id, ts, name, value, attrs FROM readings`)).map(rowText);

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE readings (device_id int, ts timestamptz, name text, value float8, attrs jsonb, PRIMARY KEY (device_id, ts));
      INSERT INTO readings SELECT i % 500, '2024-01-01'::timestamptz + i * interval '1234 milliseconds', 'dev ' || (i % 500),
          (i % 100003) * 0.37 + 0.123456789, jsonb_build_object('n', i % 11, 'ok', i % 3 = 0)
        FROM generate_series(1, ${ROWS}) i;
      -- free space in the first pages, where an UPDATE after a kill can move rows the next run has not read
      DELETE FROM readings WHERE ctid < '(300,0)';
      CREATE TABLE sorted_items (id int PRIMARY KEY, name text);
      INSERT INTO sorted_items SELECT g, 'item ' || g FROM generate_series(1, 20000) g;
      ANALYZE sorted_items;
      CREATE TABLE nokey (n int, t text);
      INSERT INTO nokey SELECT g, 'x' || g FROM generate_series(1, 3000) g;
      CREATE VIEW readings_view AS SELECT device_id, ts FROM readings WHERE device_id < 3;`);
    // VACUUM (its own statement: not in a transaction block) records the free space for the UPDATE
    await db.sql(`VACUUM ANALYZE readings`);
    config = tmpJson({ url: db.url, state_every_n_rows: 5000 });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('emits every row once (count and checksum), with STATE after each page range and none of last_pk_fetched', async () => {
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-readings': {} }))], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('public-readings: page ranges: the key is scattered over the pages');
    expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
    const got = records(run.messages, 'public-readings').map(rowText);
    expect(digest(got)).toEqual(digest(await source()));
    const bookmarks = run.messages.filter((m) => m.type === 'STATE').map((m) => m.value.bookmarks['public-readings']);
    const pages = bookmarks.filter((b) => b?.pages).map((b) => b.pages.done_before as number);
    // ranges of about 5000 rows, but at least 1024 pages (8 MB); STATE after each
    const distinct = [...new Set(pages)].filter((p) => p > 0);
    expect(distinct.length).toBeGreaterThanOrEqual(3);
    expect(distinct.map((p, i) => p - (distinct[i - 1] ?? 0))).toEqual(distinct.map(() => 1024));
    expect(pages).toEqual([...pages].sort((a, b) => a - b));
    expect(bookmarks.some((b) => b?.last_pk_fetched)).toBe(false);
  });

  it('killed (SIGKILL) mid-read and resumed after UPDATEs moved unread rows into read pages: no row lost, the read pages not read again', async () => {
    const cat = tmpJson(select(catalog, { 'public-readings': {} }));
    const killed = await runTapUntilKilled(
      ['--config', config, '--catalog', cat],
      (m) => m.type === 'STATE' && (m.value.bookmarks['public-readings']?.pages?.done_before ?? 0) >= 1000,
    );
    expect(killed.killed, killed.stderr).toBe(true);
    const state = lastState(killed.messages)!;
    const doneBefore = state.bookmarks['public-readings'].pages.done_before as number;
    // rows on the last pages change; pages are full, so the new versions go to the free space in the first ones
    await db.sql(`UPDATE readings SET value = -value WHERE ctid >= '(3500,0)'`);
    const [moved] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM readings WHERE value < 0 AND ctid < '(${doneBefore},0)'`);
    expect(Number(moved!.n)).toBeGreaterThan(1000);

    const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(singerProblems(resumed.stdout, { complete: true })).toEqual([]);
    const before = records(killed.messages, 'public-readings').map(rowText);
    const after = records(resumed.messages, 'public-readings').map(rowText);
    const emitted = new Set([...before, ...after]);
    const missing = (await source()).filter((r) => !emitted.has(r));
    expect(missing).toEqual([]);
    // the resumed run read the pages after the bookmark, and of those before only the rows the UPDATE wrote
    const [rest] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM readings WHERE ctid >= '(${doneBefore},0)'`);
    expect(after.length).toBe(Number(rest!.n) + Number(moved!.n));
    expect(new Set(resumed.messages.filter((m) => m.type === 'RECORD').map((m) => m.version))).toEqual(
      new Set([state.bookmarks['public-readings'].version]),
    );
  });

  it('a connection lost mid-read is retried from the last page range in the same run, no row lost', async () => {
    const retrying = tmpJson({ url: db.url, state_every_n_rows: 5000, retry_initial_delay_ms: 50 });
    let terminated: Promise<unknown> | undefined;
    const run = await runTapUntilKilled(['--config', retrying, '--catalog', tmpJson(select(catalog, { 'public-readings': {} }))], (m) => {
      if (!terminated && m.type === 'STATE' && (m.value.bookmarks['public-readings']?.pages?.done_before ?? 0) >= 1000)
        terminated = db.sql(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%ctid%'`,
        );
      return false;
    });
    await terminated;
    expect(run.stderr).toMatch(/WARN public-readings: .* retry 1\/4/);
    expect(lastState(run.messages)!.currently_syncing).toBeNull();
    const emitted = new Set(records(run.messages, 'public-readings').map(rowText));
    expect((await source()).filter((r) => !emitted.has(r))).toEqual([]);
  });

  it('after a rewrite (VACUUM FULL) a resumed read starts again from the first page, with a warning', async () => {
    const cat = tmpJson(select(catalog, { 'public-readings': {} }));
    const killed = await runTapUntilKilled(
      ['--config', config, '--catalog', cat],
      (m) => m.type === 'STATE' && (m.value.bookmarks['public-readings']?.pages?.done_before ?? 0) >= 1000,
    );
    expect(killed.killed, killed.stderr).toBe(true);
    await db.sql(`VACUUM FULL readings`);
    const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(killed.messages))]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/WARN public-readings: the table was rewritten .* reading it from the start/);
    expect(digest(records(resumed.messages, 'public-readings').map(rowText))).toEqual(digest(await source()));
  });

  it('a state with last_pk_fetched (from an earlier version) resumes after it, in key order', async () => {
    const [mid] = await db.sql<{ device_id: number; ts: Date }>(
      `SELECT device_id, ts FROM readings ORDER BY device_id, ts OFFSET 150000 LIMIT 1`,
    );
    const state = {
      bookmarks: { 'public-readings': { version: 1, last_pk_fetched: { device_id: mid!.device_id, ts: mid!.ts.toISOString() } } },
      currently_syncing: 'public-readings',
    };
    const run = await runTap([
      '--config',
      config,
      '--catalog',
      tmpJson(select(catalog, { 'public-readings': {} })),
      '--state',
      tmpJson(state),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const got = records(run.messages, 'public-readings');
    const expected = await db.sql(
      `SELECT device_id, ts, name, value, attrs FROM readings WHERE (device_id, ts) > ($1, $2) ORDER BY device_id, ts`,
      [mid!.device_id, mid!.ts],
    );
    expect(got.length).toBe(expected.length);
    expect(got.map(rowText)).toEqual(expected.map(rowText));
  });

  it('a key that follows the physical order, a table without a key and a view are read as before', async () => {
    const cat = select(catalog, { 'public-sorted_items': {}, 'public-nokey': {}, 'public-readings_view': {} });
    const run = await runTap(['--config', config, '--catalog', tmpJson(cat)], { env: { TAP_LOG_LEVEL: 'debug' } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('public-sorted_items: key order: the key follows the physical order (correlation 1.00)');
    expect(records(run.messages, 'public-sorted_items').map((r) => r.id)).toEqual(Array.from({ length: 20000 }, (_, i) => i + 1));
    const states = run.messages.filter((m) => m.type === 'STATE');
    expect(states.some((m) => m.value.bookmarks['public-sorted_items']?.last_pk_fetched?.id === 20000)).toBe(true);
    expect(states.some((m) => Object.values(m.value.bookmarks).some((b: any) => b?.pages))).toBe(false);
    expect(records(run.messages, 'public-nokey')).toHaveLength(3000);
    const [view] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM readings_view`);
    expect(records(run.messages, 'public-readings_view')).toHaveLength(Number(view!.n));
  });
});
