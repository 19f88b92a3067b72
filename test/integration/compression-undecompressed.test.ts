import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/**
 * A session that cannot decompress reads a compressed chunk as its uncompressed rows only, with no
 * error: the Apache-only build before TimescaleDB 2.26.4 does, and so does the embedded engine once
 * restarted on its data directory (it then plans chunks as plain inheritance children). The tap
 * used to emit what it got and exit 0: 49 of 97 rows here. It must stop before reading such a chunk.
 */
describe('compressed chunks in a session that cannot decompress them (embedded TimescaleDB, restarted)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tap-test-pgdata-'));
  let db: TestDatabase | undefined;
  let catalog: Catalog;
  const sql = (text: string): Promise<pg.QueryResultRow[]> => db!.sql(text);
  const config = (extra: Record<string, unknown> = {}): string => tmpJson({ url: db!.url, sslmode: 'disable', ...extra });
  const sync = async (extra: Record<string, unknown> = {}) => runTap(['--config', config(extra), '--catalog', tmpJson(catalog)]);

  beforeAll(async () => {
    db = await embeddedDatabase({ dataDir: dir });
    // 4 one-day chunks of 24 rows; days 1 and 2 compressed, then one row into day 1 (partially compressed)
    await sql(`CREATE TABLE readings (ts timestamptz NOT NULL, v int);
      SELECT create_hypertable('readings', by_range('ts', interval '1 day'));
      INSERT INTO readings SELECT '2024-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 95) i;
      ALTER TABLE readings SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('readings', older_than => '2024-01-03'::timestamptz) c;
      INSERT INTO readings VALUES ('2024-01-01 05:30+00', -1);`);
    catalog = select(await discover(config()), { 'public-readings': {} });
  });
  afterAll(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads all 97 rows while TimescaleDB decompresses: the check passes a session that can', async () => {
    const run = await sync();
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toHaveLength(97);
  });

  it('INCREMENTAL on a column with chunk skipping: compressed chunks the bookmark rules out of the plan are no alarm', async () => {
    // chunk skipping takes compressed chunks out of a plan by their min/max of the column: the check must
    // look at the plan of the chunk's range, not at the plan of the incremental query
    await sql(`SET timescaledb.enable_chunk_skipping = on;
      CREATE TABLE events (ts timestamptz NOT NULL, updated_at timestamptz NOT NULL, v int);
      SELECT create_hypertable('events', by_range('ts', interval '1 day'));
      SELECT enable_chunk_skipping('events', 'updated_at');
      INSERT INTO events SELECT t, t, i FROM generate_series(0, 95) i, LATERAL (SELECT '2024-01-01'::timestamptz + i * interval '1 hour' AS t) x;
      ALTER TABLE events SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('events') c;`);
    const plan = await sql(`EXPLAIN SELECT * FROM events WHERE ts >= '2024-01-01' AND ts < '2024-01-02' AND updated_at >= '2024-01-04'`);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/One-Time Filter: false/);
    const cat = tmpJson(select(await discover(config()), { 'public-events': { method: 'INCREMENTAL', key: 'updated_at' } }));
    const first = await runTap(['--config', config(), '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(96);
    await sql(`INSERT INTO events VALUES ('2024-01-05 01:00+00', '2024-01-05 01:00+00', 1000)`);
    const next = await runTap(['--config', config(), '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
    expect(next.code, next.stderr).toBe(0);
    // the bookmark row again (>=), and the new one
    expect(records(next.messages).map((r) => r.v)).toEqual([95, 1000]);
  });

  describe('after a restart on the same data directory', () => {
    beforeAll(async () => {
      await db!.close();
      db = await embeddedDatabase({ dataDir: dir });
    });

    it('is a session that loses rows silently (the hazard this protects from is real)', async () => {
      const [{ n }] = (await sql(`SELECT count(*)::int AS n FROM readings`)) as [{ n: number }];
      expect(n).toBe(49);
    });

    it('stops before reading a compressed chunk, naming it and the fixes, and emits none of its rows', async () => {
      const run = await sync();
      expect(run.code).toBe(1);
      const critical = run.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
      expect(critical).toHaveLength(1);
      expect(critical[0]).toMatch(
        /^CRITICAL chunk _timescaledb_internal\._hyper_\d+_\d+_chunk is compressed, but this database session would not decompress it .*compressed_chunks to skip$/,
      );
      // the compressed days come first in range order: nothing of them (or after them) was emitted
      expect(records(run.messages)).toEqual([]);
    });

    it('with compressed_chunks skip: every row of the plain chunks, a warning per compressed chunk, exit 0', async () => {
      const run = await sync({ compressed_chunks: 'skip' });
      expect(run.code, run.stderr).toBe(0);
      const got = records(run.messages)
        .map((r) => r.v as number)
        .sort((a, b) => a - b);
      expect(got).toEqual(Array.from({ length: 48 }, (_, i) => 48 + i));
      expect(run.stderr.match(/WARN public-readings: chunk \S+ skipped: compressed/g)).toHaveLength(2);
    });
  });
});
