import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, timescaleDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { createMetricsHypertable, METRICS_COLUMNS, recordsChecksum, sourceChecksum } from '../helpers/hypertable-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

describe('TimescaleDB settings and fallbacks (embedded TimescaleDB)', () => {
  let db: TestDatabase;
  let catalog: Catalog;
  let expected: Awaited<ReturnType<typeof sourceChecksum>>;
  const cat = () => tmpJson(select(catalog, { 'public-metrics': {} }));

  beforeAll(async () => {
    db = await timescaleDatabase();
    await createMetricsHypertable(db, 'metrics', 4);
    catalog = await discover(tmpJson({ url: db.url }));
    expected = await sourceChecksum(db, 'metrics', METRICS_COLUMNS);
  });
  afterAll(async () => db?.close());

  it('logs the extension version, and reads the hypertable chunk by chunk by default', async () => {
    const [ext] = await db.sql<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`);
    const run = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', cat()]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`INFO TimescaleDB ${ext!.v} (`);
    expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader timescaledb-chunks');
    expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(expected);
  });

  it('timescaledb_support false: the hypertable is read by the default reader, and chunks stay out of the catalog', async () => {
    const config = tmpJson({ url: db.url, timescaledb_support: false });
    const ids = (await discover(config)).streams.map((s) => s.tap_stream_id);
    expect(ids).toEqual(['public-metrics']);
    const run = await runTap(['--config', config, '--catalog', cat()]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('timescaledb_support is false: hypertables are read by the default COPY reader');
    expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader copy-table');
    expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(expected);
  });

  it('falls back to the default reader, with a warning, when the chunks cannot be listed', async () => {
    // TimescaleDB's chunk view made unreadable, as a permission or a broken upgrade would
    await db.sql(`ALTER VIEW timescaledb_information.chunks RENAME TO chunks_hidden`);
    try {
      const run = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', cat()]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/WARN public-metrics: cannot list the chunks of this hypertable \(.*chunks.* does not exist\): hypertables are read by the default COPY reader/);
      expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader copy-table');
      expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(expected);
    } finally {
      await db.sql(`ALTER VIEW timescaledb_information.chunks_hidden RENAME TO chunks`);
    }
  });

  it('consistent_snapshot on the embedded engine: a warning that it cannot hold a second connection, and every row', async () => {
    const run = await runTap(['--config', tmpJson({ url: db.url, consistent_snapshot: true }), '--catalog', cat()], { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/WARN consistent_snapshot is not available on the embedded engine/g)).toHaveLength(1);
    expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(expected);
  });
});

describe.skipIf(!!nativeSkipReason)('timescaledb_support on PostgreSQL without the extension (native)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE plain (id int PRIMARY KEY)`);
  });
  afterAll(async () => db?.close());

  it('true is a configuration error: exit 2, one CRITICAL line naming the setting and the fix, nothing on stdout', async () => {
    const run = await runTap(['--config', tmpJson({ url: db.url, timescaledb_support: true }), '--discover']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/CRITICAL .*timescaledb_support is true but the database has no timescaledb extension: set it to "auto" or install the extension/);
  });

  it('auto discovers the database as plain PostgreSQL', async () => {
    const catalog = await discover(tmpJson({ url: db.url }));
    expect(catalog.streams.map((s) => s.tap_stream_id)).toEqual(['public-plain']);
  });
});
