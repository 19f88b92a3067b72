import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/** seq_scan + idx_scan of each partition, once the server has published its counters. */
async function scans(db: TestDatabase): Promise<Map<string, number>> {
  await sleep(1200); // PostgreSQL 15 flushes a backend's table counters at most once a second
  const rows = await db.sql<{ relname: string; n: string }>(
    `SELECT relname, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS n FROM pg_stat_user_tables WHERE relname LIKE 'events_m%'`,
  );
  return new Map(rows.map((r) => [r.relname, Number(r.n)]));
}

describe('native partitioned tables through the chunk machinery (one partition = one chunk)', () => {
  let db: TestDatabase;
  let catalog: Catalog;
  let ids: number[];

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, payload text) PARTITION BY RANGE (at)`);
    for (let m = 1; m <= 12; m++) {
      const from = `2024-${String(m).padStart(2, '0')}-01`;
      const to = m === 12 ? '2025-01-01' : `2024-${String(m + 1).padStart(2, '0')}-01`;
      await db.sql(`CREATE TABLE events_m${String(m).padStart(2, '0')} PARTITION OF events FOR VALUES FROM ('${from}') TO ('${to}')`);
    }
    await db.sql(
      `INSERT INTO events SELECT g, '2024-01-01'::timestamptz + (g * interval '4 minutes'), 'p' || g FROM generate_series(1, 120000) g WHERE g * interval '4 minutes' < interval '366 days'`,
    );
    ids = (await db.sql<{ id: string }>(`SELECT id::text FROM events`)).map((r) => Number(r.id)).sort((a, b) => a - b);
    catalog = await discover(tmpJson({ url: db.url }));
  });
  afterAll(async () => db?.close());

  it('is one stream; its partitions are not streams', () => {
    expect(catalog.streams.map((s) => s.tap_stream_id)).toEqual(['public-events']);
  });

  it('max_concurrent_chunks 4 gives the same rows as 1', async () => {
    const cat = tmpJson(select(catalog, { 'public-events': {} }));
    const one = await runTap(['--config', tmpJson({ url: db.url, max_concurrent_chunks: 1 }), '--catalog', cat]);
    const four = await runTap(['--config', tmpJson({ url: db.url, max_concurrent_chunks: 4, state_every_n_rows: 5000 }), '--catalog', cat]);
    expect(one.code, one.stderr).toBe(0);
    expect(four.code, four.stderr).toBe(0);
    expect(four.stderr).toContain('reading up to 4 chunks at once');
    const a = records(one.messages)
      .map((r) => r.id)
      .sort((x, y) => x - y);
    const b = records(four.messages)
      .map((r) => r.id)
      .sort((x, y) => x - y);
    expect(a).toEqual(ids);
    expect(b).toEqual(ids);
    // STATE never claims a partition that is not finished: every done_before is the end of a month whose rows all came before it
    const seen = new Set<number>();
    for (const m of four.messages) {
      if (m.type === 'RECORD') seen.add(m.record.id);
      const before = m.type === 'STATE' ? m.value.bookmarks['public-events']?.chunks?.done_before : undefined;
      if (before) {
        const until = Number(BigInt(before) / 1000n);
        const due = ids.filter((id) => Date.parse('2024-01-01T00:00:00Z') + id * 240_000 < until);
        expect(due.every((id) => seen.has(id))).toBe(true);
      }
    }
  });

  it('an interrupted parallel sync resumes with no row missing', async () => {
    const cat = tmpJson(select(catalog, { 'public-events': {} }));
    const cfg = tmpJson({ url: db.url, max_concurrent_chunks: 3, state_every_n_rows: 2000 });
    let n = 0;
    const first = await runTapUntilKilled(['--config', cfg, '--catalog', cat], (m) => m.type === 'STATE' && ++n === 20);
    const second = await runTap(['--config', cfg, '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
    expect(second.code, second.stderr).toBe(0);
    const got = new Set([...records(first.messages), ...records(second.messages)].map((r) => r.id));
    expect(got.size).toBe(ids.length);
  });

  it('INCREMENTAL on the partition key leaves the old partitions untouched (pg_stat_user_tables)', async () => {
    const cat = tmpJson(select(catalog, { 'public-events': { method: 'INCREMENTAL', key: 'at' } }));
    const cfg = tmpJson({ url: db.url });
    const first = await runTap(['--config', cfg, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(ids.length);
    await db.sql(`INSERT INTO events VALUES (999001, '2024-12-31 23:59:00+00', 'late in december')`);
    const before = await scans(db);
    const second = await runTap(['--config', cfg, '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
    expect(second.code, second.stderr).toBe(0);
    const after = await scans(db);
    expect(records(second.messages).map((r) => r.id)).toContain(999001);
    // the data ends in late November: the bookmark's partition (m11) and December are read, January to October are not
    expect(second.stderr).toContain('10 chunk(s) end before the bookmark');
    for (const [rel, n] of before) {
      if (rel === 'events_m11' || rel === 'events_m12') expect(after.get(rel)!).toBeGreaterThan(n);
      else expect(after.get(rel), rel).toBe(n);
    }
  });
});

describe('a partitioned table sub-partitioned on another column (RANGE (at), then RANGE (id))', () => {
  let db: TestDatabase;
  let cat: string;
  let cfg: string;

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE ev (at timestamptz NOT NULL, id int NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE TABLE ev_jan PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2024-02-01') PARTITION BY RANGE (id);
      CREATE TABLE ev_jan_a PARTITION OF ev_jan FOR VALUES FROM (0) TO (1000);
      CREATE TABLE ev_jan_b PARTITION OF ev_jan FOR VALUES FROM (1000) TO (2000);
      CREATE TABLE ev_feb PARTITION OF ev FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
      CREATE TABLE ev_mar PARTITION OF ev FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
      INSERT INTO ev SELECT '2024-01-01'::timestamptz + i * interval '6 hours', i * 10, 'n' || i FROM generate_series(0, 199) i;`);
    cfg = tmpJson({ url: db.url, late_arrival_lookback: '40 days' });
    cat = tmpJson(select(await discover(cfg), { 'public-ev': { method: 'INCREMENTAL', key: 'at' } }));
  });
  afterAll(async () => db?.close());

  it('ranges every leaf on the root key: late rows in a sub-partition inside late_arrival_lookback are picked up', async () => {
    const first = await runTap(['--config', cfg, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(200);
    // the bookmark is 2024-02-19 18:00: the window reaches back to 2024-01-10
    await db.sql(
      `INSERT INTO ev VALUES ('2024-01-20 01:00+00', 5, 'late-in-jan-a'), ('2024-01-20 02:00+00', 1500, 'late-in-jan-b'), ('2024-03-02 00:00+00', 3000, 'new-in-mar')`,
    );
    const next = await runTap(['--config', cfg, '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
    expect(next.code, next.stderr).toBe(0);
    const notes = records(next.messages).map((r) => r.note);
    // they used to be missed: the leaves looked ranged on id, so the window on at was not applied
    expect(notes).toEqual(expect.arrayContaining(['late-in-jan-a', 'late-in-jan-b', 'new-in-mar']));
    expect(notes).not.toContain('n0'); // 2024-01-01, before the window
  });
});
