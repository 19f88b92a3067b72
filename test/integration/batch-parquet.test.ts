import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLines, batchRoot, dirFiles, manifestFiles } from '../helpers/batch-files.js';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { describeOnEngines, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import {
  chunkKinds,
  createMetricsHypertable,
  METRICS_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
} from '../helpers/hypertable-fixtures.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { createTypesTable, rawRecordFields } from '../helpers/type-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const skip = batchToolsSkip();

/** RFC 3339 -> µs since the epoch, exact (the tap writes fractions of up to 6 digits, pyarrow always 6). */
function micros(value: string): bigint {
  const m = /^(.*?)(?:\.(\d{1,6}))?Z$/.exec(value)!;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

describeOnEngines(`BATCH messages: Parquet files of a hypertable with compressed chunks${skip ? ` (${skip})` : ''}`, (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    await createMetricsHypertable(db, 'sensors', 8);
    await db.sql(`ALTER TABLE sensors SET (timescaledb.compress, timescaledb.compress_segmentby = 'device')`);
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('sensors', older_than => '2024-01-05'::timestamptz) c`);
    catalog = select(await discover(tmpJson({ url: db.url })), { 'public-sensors': {} });
  });
  afterAll(async () => db?.close());

  it.skipIf(!!skip).each([
    ['gzip', 'GZIP'],
    ['none', 'UNCOMPRESSED'],
  ] as const)('writes typed Parquet (%s) that pyarrow reads back equal to the source', async (compression, codec) => {
    const kinds = await chunkKinds(db, 'sensors');
    expect(kinds.compressed).toBeGreaterThan(0);
    const { dir, batch_config } = batchRoot(compression, {}, 'parquet');
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', tmpJson(catalog)]);
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toEqual([]);
    const batches = run.messages.filter((m) => m.type === 'BATCH');
    expect(batches.length).toBeGreaterThanOrEqual(kinds.total);
    for (const b of batches) expect(b).toMatchObject({ stream: 'public-sensors', encoding: { format: 'parquet', compression } });
    // each BATCH is followed by a STATE before the next file's rows
    expect(run.messages.at(-1)!.type).toBe('STATE');
    const files = manifestFiles(run.messages);
    for (const f of files) expect(f.endsWith('.parquet'), f).toBe(true);
    // no JSONL staging file nor .part is left beside the Parquet files
    expect(dirFiles(dir)).toEqual({ complete: [...files].sort(), partial: [] });

    const got = await readParquet(files);
    expect(got.types).toEqual({ ts: 'timestamp[us, tz=UTC]', device: 'int64', value: 'double', note: 'string' });
    for (const f of got.files) expect(f.codecs).toEqual([codec]);
    expect(recordsChecksum(got.rows, METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
  });

  it.skipIf(!!skip)(
    'kill -9 mid-sync, then resume: every row is in a Parquet file named before the last STATE or by the resumed run',
    async () => {
      const { dir, batch_config } = batchRoot('gzip', { batch_size: 20 }, 'parquet');
      const config = tmpJson({ url: db.url, batch_config });
      const cat = tmpJson(catalog);
      let seen = 0;
      const killed = await runTapUntilKilled(['--config', config, '--catalog', cat], (m) => m.type === 'BATCH' && ++seen === 5);
      expect(killed.killed).toBe(true);
      const upToState = killed.messages.slice(0, killed.messages.findLastIndex((m) => m.type === 'STATE') + 1);
      expect(manifestFiles(upToState).length).toBeGreaterThan(2);
      // an earlier run's unfinished staging and Parquet files, as a kill leaves them
      const stem = join(dir, 'public-sensors-20240101T000000000Z-0badcafe-000001.parquet');
      for (const f of [`${stem}.jsonl.part`, `${stem}.part`]) writeFileSync(f, 'half');
      const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(killed.messages)!)]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const got = await readParquet([...manifestFiles(upToState), ...manifestFiles(resumed.messages)]);
      const notes = new Set(got.rows.map((r) => r.note as string));
      expect([...notes].sort()).toEqual(await sourceNotes(db, 'sensors'));
      // nothing unfinished is left: the resumed run removed the leftovers and its own staging files
      expect(dirFiles(dir).partial).toEqual([]);
    },
  );
});

describe.skipIf(!!nativeSkipReason || !!skip)('BATCH messages: the every-type table as Parquet', () => {
  let db: TestDatabase;
  let catalog: string;

  beforeAll(async () => {
    db = await nativeDatabase();
    await createTypesTable(db, 'every_type');
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-every_type': {} }));
  });
  afterAll(async () => db?.close());

  it('types each column from the SCHEMA and holds the values of the JSONL records', async () => {
    const jsonl = await runTap(['--config', tmpJson({ url: db.url, batch_config: batchRoot('none').batch_config }), '--catalog', catalog]);
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const want = batchLines(jsonl.messages).map((l) => rawRecordFields(`{"record":${l}}`));
    const run = await runTap([
      '--config',
      tmpJson({ url: db.url, batch_config: batchRoot('gzip', {}, 'parquet').batch_config }),
      '--catalog',
      catalog,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const got = await readParquet(manifestFiles(run.messages));
    expect(got.rows.length).toBe(3);
    expect(got.types).toMatchObject({
      id: 'int64',
      c_int8: 'int64',
      c_numeric_scaled: 'decimal128(10, 2)',
      c_numeric: 'double',
      c_float8: 'double',
      c_bool: 'bool',
      c_text: 'string',
      c_jsonb: 'extension<arrow.json>',
      c_int_arr: 'extension<arrow.json>',
      c_tstz: 'timestamp[us, tz=UTC]',
      c_ts: 'timestamp[us, tz=UTC]',
      c_date: 'date32[day]',
      c_bytea: 'string',
    });
    // numbers that are not numeric(p,s) with p <= 15 are DOUBLE, and the tap says which at start
    expect(run.stderr).toMatch(/WARN.*public-every_type: .*c_numeric, c_numeric_huge, c_numeric_nan.* written as DOUBLE in Parquet/);
    got.rows.forEach((row, i) => {
      for (const [column, type] of Object.entries(got.types)) {
        const raw = want[i]![column]!;
        const v = row[column];
        const what = `${column} (${type}) of row ${i + 1}: ${JSON.stringify(v)} for ${raw}`;
        if (raw === 'null') expect(v, what).toBeNull();
        else if (type === 'int64' || type.startsWith('decimal')) expect(v, what).toBe(raw);
        else if (type === 'double') expect(v, what).toBe(Number(raw));
        else if (type.startsWith('timestamp')) expect(micros(v), what).toBe(micros(JSON.parse(raw)));
        else if (type === 'extension<arrow.json>') expect(JSON.parse(v), what).toEqual(JSON.parse(raw));
        else expect(v, what).toEqual(JSON.parse(raw));
      }
    });
  });
});
