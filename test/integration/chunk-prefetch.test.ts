import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { describeOnEngines, nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { mostCopiesAtOnce } from '../helpers/copy-watcher.js';
import { chunkKinds, createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const STOP_PLUGIN = resolve(__dirname, '../fixtures/stop-and-count-plugin.mjs');
const AHEAD = 'reading the next chunk ahead on a second connection (chunk_prefetch)';

/** The messages without what differs from run to run (time_extracted, a FULL_TABLE run's version), one JSON text each, in order. */
function comparable(messages: Record<string, any>[]): string[] {
  const version = messages.find((m) => m.type === 'ACTIVATE_VERSION')?.version as number | undefined;
  return messages.map((m) => {
    const text = JSON.stringify(m.type === 'RECORD' ? { ...m, time_extracted: undefined } : m);
    return version === undefined ? text : text.replaceAll(String(version), 'VERSION');
  });
}

/**
 * chunk_prefetch (default on): with max_concurrent_chunks 1 the next chunk's transaction, checks and COPY
 * start on a second connection while the current chunk is written. What must not change: the output,
 * message for message, the resume after a crash, and the connections after an early stop.
 */
describeOnEngines('chunk prefetch: the next chunk read ahead, the output unchanged', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;
  beforeAll(async () => {
    db = await engine.open();
    // 12 days x 2 space partitions = 24 chunks: days 1-5 compressed, rows added to day 2 after (partially compressed)
    await createMetricsHypertable(db, 'metrics', 12, 20);
    await db.sql(`ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
                  SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-06'::timestamptz) c;
                  INSERT INTO metrics VALUES ('2024-01-02 12:30+00', 1, 0, 'late-1'), ('2024-01-02 13:30+00', 3, 0, 'late-2');`);
    // chunks of ~6 MB of RECORDs, more than the read ahead buffers: its COPY is left mid-way by a stop
    await db.sql(`CREATE TABLE padded (ts timestamptz NOT NULL, note text NOT NULL, pad text);
      SELECT create_hypertable('padded', by_range('ts', interval '1 day'));
      INSERT INTO padded SELECT '2024-01-01'::timestamptz + g * interval '4 seconds', 'p' || g, repeat('x', 200) FROM generate_series(0, 3 * 21600 - 1) g;`);
    catalog = await discover(tmpJson({ url: db.url }));
  }, 120_000);
  afterAll(async () => db?.close());

  it('FULL_TABLE and INCREMENTAL: the same RECORDs and STATEs in the same order with prefetch on and off', async () => {
    const kinds = await chunkKinds(db, 'metrics');
    expect(kinds.total).toBe(24);
    expect(kinds.compressed).toBe(10);
    expect(kinds.partial).toBeGreaterThan(0);
    const selections = { FULL_TABLE: {}, INCREMENTAL: { method: 'INCREMENTAL' as const, key: 'ts' } };
    for (const [method, selection] of Object.entries(selections)) {
      const cat = tmpJson(select(catalog, { 'public-metrics': selection }));
      // a STATE every 50 rows: many bookmarks inside each chunk, each of which must come at the same place
      const on = await runTap(['--config', tmpJson({ url: db.url, state_every_n_rows: 50 }), '--catalog', cat]);
      const off = await runTap(['--config', tmpJson({ url: db.url, state_every_n_rows: 50, chunk_prefetch: false }), '--catalog', cat]);
      expect(on.code, on.stderr).toBe(0);
      expect(off.code, off.stderr).toBe(0);
      // the embedded engine has one connection: no read ahead there
      expect(on.stderr.includes(AHEAD), `${method}: prefetch on ${engine.label}`).toBe(engine.kind !== 'embedded');
      expect(off.stderr).not.toContain(AHEAD);
      expect(
        records(on.messages)
          .map((r) => r.note)
          .sort(),
      ).toEqual(await sourceNotes(db, 'metrics'));
      const states = on.messages.filter((m) => m.type === 'STATE').length;
      expect(states, `${method}: a STATE after each chunk`).toBeGreaterThan(24);
      expect(comparable(on.messages), method).toEqual(comparable(off.messages));
      // plugins see each chunk start and end in output order, never the chunk read ahead first
      expect(partitionEvents(on.stderr), method).toEqual(partitionEvents(off.stderr));
    }
  }, 180_000);

  it('SIGKILL mid-sync, then resume from the last STATE: every row arrives, at most one chunk twice', async () => {
    const source = await sourceNotes(db, 'metrics');
    const [{ n: chunkRows }] = await db.sql<{ n: number }>(
      `SELECT max(n)::int AS n FROM (SELECT count(*) AS n FROM metrics GROUP BY tableoid) c`,
    );
    const config = tmpJson({ url: db.url, state_every_n_rows: 50 });
    const selections = [{}, { method: 'INCREMENTAL' as const, key: 'ts' }];
    // kill points spread over the run: inside the first chunk, mid-way, near the end (of ~3,600 messages)
    for (const [i, killAt] of [40, 1500, 3300].entries()) {
      const args = ['--config', config, '--catalog', tmpJson(select(catalog, { 'public-metrics': selections[i % 2]! }))];
      const killed = await runTapUntilKilled(args, (_m, n) => n === killAt);
      expect(killed.killed, killed.stderr).toBe(true);
      const state = lastState(killed.messages);
      const resumed = await runTap(state ? [...args, '--state', tmpJson(state)] : args);
      expect(resumed.code, resumed.stderr).toBe(0);
      const notes = [...records(killed.messages), ...records(resumed.messages)].map((r) => r.note as string);
      expect([...new Set(notes)].sort(), `kill after message ${killAt}`).toEqual(source);
      expect(notes.length - new Set(notes).size, `kill after message ${killAt}: duplicates`).toBeLessThanOrEqual(chunkRows);
    }
  }, 240_000);

  it('a plugin stops the sync mid-chunk: both reading connections are released before the process ends', async () => {
    const plugins = [{ module: STOP_PLUGIN, options: { stopAfterRows: 1000 } }];
    const config = tmpJson({ url: db.url, application_name: 'tap-prefetch-stop', state_every_n_rows: 100, plugins });
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-padded': {} }))]);
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(/stop-and-count: stopped after 10\d\d rows/);
    expect(run.stderr).toContain('INFO stop-and-count: 0 busy connections after the stop');
    expect(records(run.messages).length).toBeLessThan(1100);
  }, 120_000);
});

/** What only a server with several connections shows: the two COPYs overlap. */
describe.skipIf(!!nativeTimescaleSkipReason && !process.env.CI)('chunk prefetch on native TimescaleDB', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
    await db.sql(`CREATE TABLE wide (ts timestamptz NOT NULL, note text NOT NULL, pad text);
      SELECT create_hypertable('wide', by_range('ts', interval '1 day'));
      INSERT INTO wide SELECT '2024-01-01'::timestamptz + g * interval '1 second', 'w' || g, repeat('x', 200) FROM generate_series(0, 10 * 86400 - 1, 5) g;
      ALTER TABLE wide SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('wide', older_than => '2024-01-04'::timestamptz) c;`);
  }, 120_000);
  afterAll(async () => db?.close());

  for (const prefetch of [true, false]) {
    it(`max_concurrent_chunks 1, chunk_prefetch ${prefetch}: ${prefetch ? 'two chunk COPYs' : 'one chunk COPY'} at a time, sampled from pg_stat_activity`, async () => {
      const app = `tap-prefetch-${prefetch}`;
      const config = tmpJson({ url: db.url, application_name: app, chunk_prefetch: prefetch });
      const catalog = tmpJson(select(await discover(config), { 'public-wide': {} }));
      // a chunk's COPY stays in its transaction until the tap has read it all: count 'idle in transaction' too
      const { result: run, most } = await mostCopiesAtOnce(db.url, app, ['active', 'idle in transaction'], () =>
        runTap(['--config', config, '--catalog', catalog]),
      );
      expect(run.code, run.stderr).toBe(0);
      const notes = records(run.messages).map((r) => r.note);
      expect(notes.sort()).toEqual(await sourceNotes(db, 'wide'));
      expect(most, 'chunk COPYs open at once').toBe(prefetch ? 2 : 1);
    }, 120_000);
  }
});

/** The chunks in the order their partition-end hooks ran: the metrics plugin's `chunk_duration` line of each. */
function partitionEvents(stderr: string): string[] {
  return [...stderr.matchAll(/INFO METRIC: (\{"type":"timer","metric":"chunk_duration".*\})$/gm)].map((m) => JSON.parse(m[1]!).tags.chunk);
}
