import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { chunkReads, discover, lastState, records, runTap, runTapUntilKilled, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import {
  createIntegerHypertable,
  createMetricsHypertable,
  METRICS_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
} from '../helpers/hypertable-fixtures.js';
import { streamMetadata } from '../../src/core/singer/catalog.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const MID_SYNC_PLUGIN = resolve(__dirname, '../fixtures/mid-sync-plugin.mjs');

describeOnEngines('TimescaleDB hypertables read chunk by chunk', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    await createMetricsHypertable(db, 'metrics', 36); // 36 days x 2 space partitions = 72 chunks
    await db.sql(`ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
                  SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-06'::timestamptz) c;`);
    await createIntegerHypertable(db, 'ticks', 1050);
    await db.sql(`CREATE TABLE empty_ht (ts timestamptz NOT NULL, v int); SELECT create_hypertable('empty_ht', by_range('ts'));`);
    await createMetricsHypertable(db, 'churn', 6);
    config = tmpJson({ url: db.url, state_every_n_rows: 200, timescaledb_chunk_discovery_interval_minutes: 0 });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('lists hypertables as streams with their TimescaleDB metadata, and no chunk or internal table', async () => {
    const ids = catalog.streams.map((s) => s.tap_stream_id).sort();
    expect(ids).toEqual(['public-churn', 'public-empty_ht', 'public-metrics', 'public-ticks']);
    const md = streamMetadata(streamEntry(catalog, 'public-metrics'));
    const [ht] = await db.sql(
      `SELECT num_chunks, compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'metrics'`,
    );
    expect(md).toMatchObject({
      'timescaledb.hypertable': true,
      'timescaledb.time-column': 'ts',
      'timescaledb.time-column-type': 'timestamp with time zone',
      'timescaledb.num-chunks': Number(ht!.num_chunks),
      'timescaledb.space-dimensions': [{ column: 'device', partitions: 2 }],
      'timescaledb.compression-enabled': ht!.compression_enabled,
    });
    expect(Number(ht!.num_chunks)).toBe(72);
    expect((md['valid-replication-keys'] as string[])[0]).toBe('ts');
  });

  it("row-count of a hypertable is its chunks' estimate (compressed chunks by their rows at compression), not the root's 0; null before any ANALYZE", async () => {
    const rowCount = (c: Catalog, id: string) => streamMetadata(streamEntry(c, id))['row-count'];
    expect(rowCount(catalog, 'public-ticks')).toBeNull();
    await db.sql('ANALYZE metrics; ANALYZE ticks');
    const analyzed = await discover(config);
    const [{ n }] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM metrics`);
    const [{ t }] = await db.sql<{ t: string }>(`SELECT count(*) AS t FROM ticks`);
    expect(rowCount(analyzed, 'public-ticks')).toBe(Number(t));
    expect(rowCount(analyzed, 'public-metrics')).toBe(Number(n));
  });

  it('syncs a hypertable of 72 chunks (10 compressed), an integer-time one and an empty one with every row exactly once', async () => {
    const cat = tmpJson(select(catalog, { 'public-metrics': {}, 'public-ticks': {}, 'public-empty_ht': {} }));
    const run = await runTap(['--config', config, '--catalog', cat], { env: { TAP_LOG_LEVEL: 'debug' } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader timescaledb-chunks');
    expect(
      records(run.messages, 'public-metrics')
        .map((r) => r.note)
        .sort(),
    ).toEqual(await sourceNotes(db, 'metrics'));
    // every value of every column, summed or hashed by the server, equals the same over the records
    expect(recordsChecksum(records(run.messages, 'public-metrics'), METRICS_COLUMNS)).toEqual(
      await sourceChecksum(db, 'metrics', METRICS_COLUMNS),
    );
    expect(recordsChecksum(records(run.messages, 'public-ticks'), { t: 'int', v: 'text' })).toEqual(
      await sourceChecksum(db, 'ticks', { t: 'int', v: 'text' }),
    );
    expect(
      records(run.messages, 'public-ticks')
        .map((r) => r.v)
        .sort(),
    ).toEqual(await sourceNotes(db, 'ticks', 'v'));
    expect(records(run.messages, 'public-empty_ht')).toEqual([]);
    // one read per chunk (each space partition of a day on its own), and STATE after each
    expect(chunkReads(run.stderr, 'public-metrics').length).toBe(72);
    expect(chunkReads(run.stderr, 'public-ticks').length).toBe(11);
    const states = run.messages.filter((m) => m.type === 'STATE' && m.value.bookmarks['public-metrics']?.chunks);
    expect(states.length).toBeGreaterThanOrEqual(72);
  });

  it('resumes an interrupted FULL_TABLE sync at the chunk it was in: no row missing, at most one chunk again', async () => {
    const cat = tmpJson(select(catalog, { 'public-metrics': {} }));
    let states = 0;
    const first = await runTapUntilKilled(
      ['--config', config, '--catalog', cat],
      (m) => m.type === 'STATE' && m.value.bookmarks['public-metrics']?.chunks?.done_before !== undefined && ++states === 12,
    );
    expect(first.killed).toBe(true);
    const state = lastState(first.messages)!;
    const version = state.bookmarks['public-metrics'].version;
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('(resuming)');
    const before = records(first.messages).map((r) => r.note);
    const after = records(second.messages).map((r) => r.note);
    const source = await sourceNotes(db, 'metrics');
    expect([...new Set([...before, ...after])].sort()).toEqual(source);
    const duplicates = before.length + after.length - source.length;
    expect(duplicates).toBeLessThanOrEqual(4 * 24 * 2); // one day's slice: 4 devices x 24 hours, and the rows after the last STATE
    // the same version goes on; ACTIVATE_VERSION only at the end of the resumed run
    expect(second.messages.filter((m) => m.type === 'ACTIVATE_VERSION').map((m) => m.version)).toEqual([version]);
  });

  it('skips a chunk dropped during the sync with a warning, and reads a chunk created during it', async () => {
    const [victim] = await db.sql<{ c: string }>(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS c FROM timescaledb_information.chunks WHERE hypertable_name = 'churn' ORDER BY range_start DESC LIMIT 1`,
    );
    const sql = `DROP TABLE ${victim!.c}; INSERT INTO churn VALUES ('2024-03-01 00:00+00', 1, 0, 'created-during-sync')`;
    const cfg = tmpJson({
      url: db.url,
      timescaledb_chunk_discovery_interval_minutes: 0,
      // the hook changes chunks while the reader waits for it: with the read ahead (chunk_prefetch) the next chunk's
      // transaction would be open then, and hold a lock (or a snapshot) the change waits for or trips on
      chunk_prefetch: false,
      plugins: [{ module: MID_SYNC_PLUGIN, options: { stream: 'public-churn', afterPartitions: 1, sql } }],
    });
    const notesBefore = await sourceNotes(db, 'churn');
    const run = await runTap(['--config', cfg, '--catalog', tmpJson(select(catalog, { 'public-churn': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('mid-sync plugin ran its SQL after 1 partitions');
    expect(run.stderr).toMatch(new RegExp(`WARN public-churn: chunk .*${victim!.c.split('.')[1]}.* was dropped since discovery`));
    expect(run.stderr).toContain('chunk(s) appeared during the sync');
    const got = records(run.messages)
      .map((r) => r.note)
      .sort();
    expect(got).toEqual(await sourceNotes(db, 'churn'));
    expect(got).toContain('created-during-sync');
    expect(got.length).toBeLessThan(notesBefore.length);
  });

  it('falls back to the default reader when the plugin is turned off, and says so', async () => {
    const cfg = tmpJson({ url: db.url, disable_plugins: ['timescaledb'] });
    const run = await runTap(['--config', cfg, '--catalog', tmpJson(select(catalog, { 'public-ticks': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WARN plugin timescaledb is turned off by disable_plugins: hypertables are read by the default COPY reader/);
    expect(run.stderr).toContain('with reader copy-table');
    expect(
      records(run.messages)
        .map((r) => r.v)
        .sort(),
    ).toEqual(await sourceNotes(db, 'ticks', 'v'));
  });

  it('resumes after merge_chunks joined a finished chunk with an unfinished one: the merged chunk is read again, nothing missing', async () => {
    await db.sql(`CREATE TABLE merged (ts timestamptz NOT NULL, v int); SELECT create_hypertable('merged', by_range('ts', interval '1 day'));
      INSERT INTO merged SELECT '2024-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 95) i;`);
    const cat = tmpJson(select(await discover(config), { 'public-merged': {} }));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    // the STATE after the first day's chunk: day 1 done, days 2 to 4 not
    const afterDay1 = first.messages
      .filter((m) => m.type === 'STATE')
      .map((m) => m.value)
      .find((v) => v.bookmarks['public-merged']?.chunks?.done_before !== undefined);
    const days = await db.sql(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS c FROM timescaledb_information.chunks WHERE hypertable_name = 'merged' ORDER BY range_start`,
    );
    await db.sql(`CALL merge_chunks('${days[0]!.c}', '${days[1]!.c}')`); // one chunk for days 1 and 2 now
    const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(afterDay1)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(
      records(resumed.messages)
        .map((r) => r.v)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 96 }, (_, i) => i));
  });
});
