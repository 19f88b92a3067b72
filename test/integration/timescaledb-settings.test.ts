import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { createMetricsHypertable, METRICS_COLUMNS, recordsChecksum, sourceChecksum } from '../helpers/hypertable-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

describeOnEngines('TimescaleDB settings and fallbacks', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;
  let expected: Awaited<ReturnType<typeof sourceChecksum>>;
  const cat = () => tmpJson(select(catalog, { 'public-metrics': {} }));

  beforeAll(async () => {
    db = await engine.open();
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

  it('late_arrival_lookback: a JSON integer works for an integer time column; a value of the wrong kind is exit 2 naming it', async () => {
    await db.sql(`CREATE TABLE ticks (t bigint NOT NULL, v text NOT NULL);
      SELECT create_hypertable('ticks', by_range('t', 100));
      INSERT INTO ticks SELECT g, 'i' || g FROM generate_series(1, 1000) g`);
    const discovered = await discover(tmpJson({ url: db.url }));
    const state = (stream: string, key: string, value: unknown) =>
      tmpJson({ bookmarks: { [stream]: { replication_key: key, replication_key_value: value } } });
    const ticks = tmpJson(select(discovered, { 'public-ticks': { method: 'INCREMENTAL', key: 't' } }));
    const ok = await runTap([
      '--config',
      tmpJson({ url: db.url, late_arrival_lookback: 150 }),
      '--catalog',
      ticks,
      '--state',
      state('public-ticks', 't', 1000),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(records(ok.messages).map((r) => Number(r.t))).toEqual(Array.from({ length: 151 }, (_, i) => 850 + i));

    const wrongKind = await runTap([
      '--config',
      tmpJson({ url: db.url, late_arrival_lookback: '2 hours' }),
      '--catalog',
      ticks,
      '--state',
      state('public-ticks', 't', 1000),
    ]);
    expect(wrongKind.code, wrongKind.stderr).toBe(2);
    expect(wrongKind.stderr).toMatch(/CRITICAL late_arrival_lookback "2 hours" is not an integer, and public-ticks's time column t is/);
    const metrics = tmpJson(select(discovered, { 'public-metrics': { method: 'INCREMENTAL', key: 'ts' } }));
    const notInterval = await runTap([
      '--config',
      tmpJson({ url: db.url, late_arrival_lookback: '3 bananas' }),
      '--catalog',
      metrics,
      '--state',
      state('public-metrics', 'ts', '2024-01-03T00:00:00Z'),
    ]);
    expect(notInterval.code, notInterval.stderr).toBe(2);
    expect(notInterval.stderr).toMatch(/CRITICAL late_arrival_lookback "3 bananas" is not a PostgreSQL interval .*give e\.g\. "2 hours"/);
    expect(records(notInterval.messages)).toHaveLength(0);
    await db.sql('DROP TABLE ticks'); // the other cases count the streams
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

  it('reads the hypertable in one query, with a warning, when the chunks cannot be listed; INCREMENTAL keeps late_arrival_lookback', async () => {
    // TimescaleDB's chunk view made unreadable, as a permission or a catalog of another version would
    await db.sql(`ALTER VIEW timescaledb_information.chunks RENAME TO chunks_hidden`);
    try {
      const run = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', cat()]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(
        /WARN public-metrics: cannot list the chunks of this hypertable \(.*chunks.* does not exist\): it is read in one query/,
      );
      expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader timescaledb-chunks');
      expect(recordsChecksum(records(run.messages), METRICS_COLUMNS)).toEqual(expected);
      // the fallback used to be the default reader, which read from the bookmark: a late row inside the window was lost
      const incremental = tmpJson(select(catalog, { 'public-metrics': { method: 'INCREMENTAL', key: 'ts' } }));
      const state = tmpJson({ bookmarks: { 'public-metrics': { replication_key: 'ts', replication_key_value: '2024-01-04T23:00:00Z' } } });
      const late = await runTap([
        '--config',
        tmpJson({ url: db.url, late_arrival_lookback: '1 day' }),
        '--catalog',
        incremental,
        '--state',
        state,
      ]);
      expect(late.code, late.stderr).toBe(0);
      const window = await db.sql<{ note: string }>(`SELECT note FROM metrics WHERE ts >= '2024-01-03T23:00:00Z'`);
      expect(
        records(late.messages)
          .map((r) => r.note)
          .sort(),
      ).toEqual(window.map((r) => r.note).sort());
    } finally {
      await db.sql(`ALTER VIEW timescaledb_information.chunks_hidden RENAME TO chunks`);
    }
  });

  it('consistent_snapshot: on the embedded engine a warning that it cannot hold a second connection; on a server, no warning; every row either way', async () => {
    const run = await runTap(['--config', tmpJson({ url: db.url, consistent_snapshot: true }), '--catalog', cat()], { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const warnings = run.stderr.match(/WARN consistent_snapshot is not available on the embedded engine/g) ?? [];
    expect(warnings).toHaveLength(engine.kind === 'embedded' ? 1 : 0);
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
    expect(run.stderr).toMatch(
      /CRITICAL .*timescaledb_support is true but the database has no timescaledb extension: set it to "auto" or install the extension/,
    );
  });

  it('auto discovers the database as plain PostgreSQL', async () => {
    const catalog = await discover(tmpJson({ url: db.url }));
    expect(catalog.streams.map((s) => s.tap_stream_id)).toEqual(['public-plain']);
  });
});
