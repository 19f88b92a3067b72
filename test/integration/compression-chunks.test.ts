import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import {
  chunkKinds,
  createMetricsHypertable,
  METRICS_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
} from '../helpers/hypertable-fixtures.js';
import { streamMetadata, type Catalog } from '../../src/core/singer/catalog.js';

const MID_SYNC_PLUGIN = resolve(__dirname, '../fixtures/mid-sync-plugin.mjs');

describeOnEngines('compressed and partially compressed chunks', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    for (const t of ['sensors', 'moving', 'thawing']) {
      await createMetricsHypertable(db, t, 12);
      await db.sql(
        `ALTER TABLE ${t} SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'ts DESC')`,
      );
    }
    // sensors: days 1-6 compressed, then rows inserted into day 2 (partially compressed), days 7-12 plain
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('sensors', older_than => '2024-01-07'::timestamptz) c`);
    await db.sql(
      `INSERT INTO sensors VALUES ('2024-01-02 12:30+00', 1, 0, 'after-compression-1'), ('2024-01-02 13:30+00', 3, 0, 'after-compression-2')`,
    );
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('thawing') c`);
    catalog = await discover(tmpJson({ url: db.url }));
  });
  afterAll(async () => db?.close());

  it('describes compression in the catalog with the values of TimescaleDB’s own stats functions', async () => {
    const md = streamMetadata(streamEntry(catalog, 'public-sensors'));
    const [stats] = await db.sql(`SELECT * FROM hypertable_compression_stats('sensors')`);
    expect(md['timescaledb.compression.segmentby']).toBe('device');
    expect(md['timescaledb.compression.orderby']).toBe('ts DESC');
    expect(md['timescaledb.compression.compressed-chunks']).toBe(Number(stats!.number_compressed_chunks));
    expect(md['timescaledb.compression.before-bytes']).toBe(Number(stats!.before_compression_total_bytes));
    expect(md['timescaledb.compression.after-bytes']).toBe(Number(stats!.after_compression_total_bytes));
    expect(Number(stats!.number_compressed_chunks)).toBe(12);
    // and the per-chunk function agrees: the hypertable figures are the sums over its compressed chunks
    const [chunks] = await db.sql(
      `SELECT count(*) FILTER (WHERE compression_status = 'Compressed') AS n, sum(before_compression_total_bytes) AS before, sum(after_compression_total_bytes) AS after
         FROM chunk_compression_stats('sensors')`,
    );
    expect(md['timescaledb.compression.compressed-chunks']).toBe(Number(chunks!.n));
    expect(md['timescaledb.compression.before-bytes']).toBe(Number(chunks!.before));
    expect(md['timescaledb.compression.after-bytes']).toBe(Number(chunks!.after));
  });

  it('reads compressed, partially compressed and plain chunks in full, FULL_TABLE and INCREMENTAL', async () => {
    const kinds = await chunkKinds(db, 'sensors');
    expect(kinds.partial).toBeGreaterThan(0);
    const source = await sourceNotes(db, 'sensors');
    const full = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', tmpJson(select(catalog, { 'public-sensors': {} }))]);
    expect(full.code, full.stderr).toBe(0);
    expect(
      records(full.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(source);
    expect(recordsChecksum(records(full.messages), METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
    // one chunk per day and device partition: the 2 rows after compression made 2 chunks partial
    expect(full.stderr).toMatch(
      /compression: chunks read: 12 uncompressed \(576 rows.*10 compressed \(480 rows.*2 partially compressed \(98 rows/,
    );

    const cat = tmpJson(select(catalog, { 'public-sensors': { method: 'INCREMENTAL', key: 'ts' } }));
    const inc = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', cat]);
    expect(inc.code, inc.stderr).toBe(0);
    expect(
      records(inc.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(source);
    expect(recordsChecksum(records(inc.messages), METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
    // new rows land in an old, compressed chunk: the lookback window reaches it and reads them
    await db.sql(`INSERT INTO sensors VALUES ('2024-01-12 20:30+00', 2, 0, 'late-into-day-12')`);
    const next = await runTap([
      '--config',
      tmpJson({ url: db.url, late_arrival_lookback: '1 day' }),
      '--catalog',
      cat,
      '--state',
      tmpJson(lastState(inc.messages)),
    ]);
    expect(records(next.messages).map((r) => r.note)).toContain('late-into-day-12');
  });

  // moving: all plain, the last 3 days compressed mid-sync; thawing: all compressed, the last 3 days decompressed mid-sync
  it.each([
    { table: 'moving', change: 'compress_chunk', compressed: 6 },
    { table: 'thawing', change: 'decompress_chunk', compressed: 18 },
  ])('reads in full the chunks $table has changed by $change while the sync runs', async ({ table, change, compressed }) => {
    const sql = `SELECT ${change}(c) FROM show_chunks('${table}', newer_than => '2024-01-10'::timestamptz) c`;
    const cfg = tmpJson({
      url: db.url,
      // the hook changes chunks while the reader waits for it: with the read ahead (chunk_prefetch) the next chunk's
      // transaction would be open then, and hold a lock (or a snapshot) the change waits for or trips on
      chunk_prefetch: false,
      plugins: [{ module: MID_SYNC_PLUGIN, options: { stream: `public-${table}`, afterPartitions: 2, sql } }],
    });
    const run = await runTap(['--config', cfg, '--catalog', tmpJson(select(catalog, { [`public-${table}`]: {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('mid-sync plugin ran its SQL after 2 partitions');
    expect((await chunkKinds(db, table)).compressed).toBe(compressed); // days 10-12 x 2 device partitions changed
    expect(
      records(run.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(await sourceNotes(db, table));
    expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(await sourceChecksum(db, table, METRICS_COLUMNS));
  });

  it('skips compressed chunks with compressed_chunks: skip, with a warning for each', async () => {
    const run = await runTap([
      '--config',
      tmpJson({ url: db.url, compressed_chunks: 'skip' }),
      '--catalog',
      tmpJson(select(catalog, { 'public-sensors': {} })),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const warnings = run.stderr
      .split('\n')
      .filter((l) => /^WARN public-sensors: chunk .* skipped: compressed \(compressed_chunks: skip\)/.test(l));
    expect(warnings).toHaveLength(12);
    const plain = await db.sql<{ n: string }>(`SELECT note AS n FROM sensors WHERE ts >= '2024-01-07'`);
    expect(
      records(run.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(plain.map((r) => r.n).sort());
    expect(run.stderr).toContain('12 compressed skipped');
  });
});
