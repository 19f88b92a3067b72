import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLines, batchRoot, dirFiles, manifestFiles } from '../helpers/batch-files.js';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { firstPage } from '../helpers/parquet-pages.js';
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
import type { PlannedColumn } from '../../src/core/readers/stream-plan.js';
import { parquetColumns } from '../../src/core/batch/parquet-columns.js';
import { PARQUET_DEFAULTS, ParquetWriter } from '../../src/core/batch/parquet-writer.js';

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
    const metricsFile = join(mkdtempSync(join(tmpdir(), 'tap-metrics-')), 'metrics.json');
    const run = await runTap([
      '--config',
      tmpJson({ url: db.url, batch_config }),
      '--catalog',
      tmpJson(catalog),
      '--metrics-file',
      metricsFile,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toEqual([]);
    // the batches' bytes as the metrics count them, though each batch buffer moved to the Parquet thread
    const stream = JSON.parse(readFileSync(metricsFile, 'utf8')).streams['public-sensors'];
    expect(stream.bytes).toBeGreaterThan(stream.rows * 30);
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
    // min and max per row group of the typed columns, which readers use to skip row groups
    for (const f of got.files) expect(f.minmax).toEqual(expect.arrayContaining(['device', 'ts', 'value']));
    // gzip pages at zlib's level 1 (the gzip header's XFL 4), not DuckDB's slower default level
    if (compression === 'gzip') for (const f of files) expect(firstPage(f).body[8], f).toBe(4);
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
      // an earlier run's unfinished staging, uncompressed and Parquet files, as a kill leaves them
      const stem = join(dir, 'public-sensors-20240101T000000000Z-0badcafe-000001.parquet');
      for (const f of [`${stem}.jsonl.part`, `${stem}.raw.part`, `${stem}.part`]) writeFileSync(f, 'half');
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
      c_numeric: 'string',
      c_numeric_huge: 'string',
      c_money: 'decimal128(19, 2)',
      c_float8: 'double',
      c_bool: 'bool',
      c_text: 'string',
      c_jsonb: 'extension<arrow.json>',
      c_int_arr: 'extension<arrow.json>',
      c_num_arr: 'extension<arrow.json>',
      c_tstz: 'timestamp[us, tz=UTC]',
      c_ts: 'timestamp[us, tz=UTC]',
      c_date: 'date32[day]',
      c_bytea: 'string',
    });
    // numeric without a precision has no Parquet DECIMAL: its exact text, and the tap says which at start
    expect(run.stderr).toMatch(
      /INFO.*public-every_type: c_numeric, c_numeric_huge, c_numeric_nan written to Parquet as exact decimal text/,
    );
    const exactText = new Set(['c_numeric', 'c_numeric_huge', 'c_numeric_nan']);
    got.rows.forEach((row, i) => {
      for (const [column, type] of Object.entries(got.types)) {
        const raw = want[i]![column]!;
        const v = row[column];
        const what = `${column} (${type}) of row ${i + 1}: ${JSON.stringify(v)} for ${raw}`;
        if (raw === 'null') expect(v, what).toBeNull();
        else if (type === 'int64' || type.startsWith('decimal')) expect(v, what).toBe(raw);
        else if (type === 'double') expect(v, what).toBe(Number(raw));
        else if (type.startsWith('timestamp')) expect(micros(v), what).toBe(micros(JSON.parse(raw)));
        // JSON text and numbers without a precision: every byte of the JSONL record's text
        else if (type === 'extension<arrow.json>' || exactText.has(column)) expect(v, what).toBe(raw);
        else expect(v, what).toEqual(JSON.parse(raw));
      }
    });
  });

  it('holds the same bytes as the files made from RECORD lines (decoder csv) of every type, infinity, BC and escapes included', async () => {
    const files = async (decoder: 'auto' | 'csv') => {
      const config = tmpJson({ url: db.url, decoder, batch_config: batchRoot('gzip', {}, 'parquet').batch_config });
      const run = await runTap(['--config', config, '--catalog', catalog], { env: { TAP_LOG_LEVEL: 'debug' } });
      expect(run.code, run.stderr).toBe(0);
      return { stderr: run.stderr, bytes: manifestFiles(run.messages).map((f) => readFileSync(f)) };
    };
    const copy = await files('auto');
    const json = await files('csv');
    // the COPY text path is the one taken by default, and not with the csv decoder
    expect(copy.stderr).toMatch(/DEBUG.*public-every_type: rows go to the batch files as COPY text/);
    expect(json.stderr).not.toMatch(/as COPY text/);
    // doubles and timestamps come in binary (their send functions), the other columns as text
    expect(copy.stderr).toMatch(/float8send\("c_float8"\).*timestamptz_send\("c_tstz"\).*timestamp_send\("c_ts"\)/);
    expect(copy.bytes.length).toBe(json.bytes.length);
    copy.bytes.forEach((b, i) => expect(b.equals(json.bytes[i]!), `file ${i + 1}`).toBe(true));
  });

  it('keeps a float8 replication key as text, so INCREMENTAL bookmarks it as the RECORD path does', async () => {
    await db.sql(`CREATE TABLE float_key (id int PRIMARY KEY, v float8, w float8);
      INSERT INTO float_key SELECT i, i / 7.0, i / 3.0 FROM generate_series(1, 300) i;
      INSERT INTO float_key VALUES (301, NULL, 0.1), (302, 'NaN', 'NaN'), (303, 1e300, '-Infinity')`);
    const cat = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-float_key': { method: 'INCREMENTAL', key: 'v' } }));
    const run = async (batch: boolean) => {
      const config = { url: db.url, ...(batch ? { batch_config: batchRoot('gzip', { batch_size: 100 }, 'parquet').batch_config } : {}) };
      const tap = await runTap(['--config', tmpJson(config), '--catalog', cat], { env: { TAP_LOG_LEVEL: 'debug' } });
      expect(tap.code, tap.stderr).toBe(0);
      return tap;
    };
    const parquet = await run(true);
    const lines = await run(false);
    // w, not the key, is read as float8send's bytes; the key stays text
    expect(parquet.stderr).toMatch(/float8send\("w"\)/);
    expect(parquet.stderr).not.toMatch(/float8send\("v"\)/);
    expect(lastState(parquet.messages)).toEqual(lastState(lines.messages));
    const got = await readParquet(manifestFiles(parquet.messages));
    const byId = new Map(records(lines.messages).map((r) => [r.id as number, r]));
    expect(got.rows.length).toBe(byId.size);
    for (const row of got.rows) expect({ v: row.v, w: row.w }).toEqual({ v: byId.get(Number(row.id))!.v, w: byId.get(Number(row.id))!.w });
  });
});

describe.skipIf(!!nativeSkipReason || !!skip)('BATCH messages: Parquet keeps every digit of numbers and JSON', () => {
  let db: TestDatabase;
  let catalog: string;

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE exact_numbers (id integer PRIMARY KEY, n30 numeric(30,10), n38 numeric(38,0), n50 numeric(50,5),
        n numeric, m money, j jsonb, a numeric[]);
      INSERT INTO exact_numbers VALUES
        (1, 12345678901234567890.1234567891, 99999999999999999999999999999999999999,
         1234567890123456789012345678901234567890123.45678, 0.1234567890123456789012345678901234567890,
         92233720368547758.07, '{"big": 12345678901234567890.123456789, "small": 0.1}',
         ARRAY[12345678901234567890.5, 1e-30]),
        (2, -0.0000000001, -1, NULL, 'NaN', -92233720368547758.08, '[1.000000000000000000001]', NULL)`);
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-exact_numbers': {} }));
  });
  afterAll(async () => db?.close());

  it('writes DECIMAL(p,s) for numeric(p,s) up to 38 digits and money, exact text past that, JSON as its text', async () => {
    const jsonl = await runTap(['--config', tmpJson({ url: db.url, batch_config: batchRoot('none').batch_config }), '--catalog', catalog]);
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const want = batchLines(jsonl.messages).map((l) => rawRecordFields(`{"record":${l}}`));
    const run = await runTap([
      '--config',
      tmpJson({ url: db.url, batch_config: batchRoot('none', {}, 'parquet').batch_config }),
      '--catalog',
      catalog,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const got = await readParquet(manifestFiles(run.messages));
    expect(got.types).toEqual({
      id: 'int64',
      n30: 'decimal128(30, 10)',
      n38: 'decimal128(38, 0)',
      n50: 'string',
      n: 'string',
      m: 'decimal128(19, 2)',
      j: 'extension<arrow.json>',
      a: 'extension<arrow.json>',
    });
    expect(got.rows[0]).toMatchObject({
      n30: '12345678901234567890.1234567891',
      n38: '99999999999999999999999999999999999999',
      n50: '1234567890123456789012345678901234567890123.45678',
      n: '0.1234567890123456789012345678901234567890',
      m: '92233720368547758.07',
      j: '{"big": 12345678901234567890.123456789, "small": 0.1}',
      a: '[12345678901234567890.5,0.000000000000000000000000000001]',
    });
    // and every value is the JSONL record's text, digit for digit
    got.rows.forEach((row, i) => {
      for (const [column, raw] of Object.entries(want[i]!)) {
        if (raw === 'null') expect(row[column], `${column} of row ${i + 1}`).toBeNull();
        else expect(String(row[column]), `${column} of row ${i + 1}`).toBe(raw);
      }
    });
  });
  it('writes a row whose jsonb is larger than the JSON reader’s default line limit (16 MB, enforced from 32 MB)', async () => {
    // the reader's buffer follows its line limit, which the tap sets from the largest batch it staged
    await db.sql(`CREATE TABLE big_doc (id int PRIMARY KEY, doc jsonb);
      INSERT INTO big_doc VALUES (1, jsonb_build_object('blob', repeat('x', 40000000), 'n', 12345678901234567890.5)), (2, '{}')`);
    const cat = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-big_doc': {} }));
    const run = await runTap([
      '--config',
      tmpJson({ url: db.url, batch_config: batchRoot('none', {}, 'parquet').batch_config }),
      '--catalog',
      cat,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const got = await readParquet(manifestFiles(run.messages));
    expect(got.rows.map((r) => (r.doc as string).length)).toEqual([40000000 + '{"n": 12345678901234567890.5, "blob": ""}'.length, 2]);
    expect((got.rows[0]!.doc as string).startsWith('{"n": 12345678901234567890.5, "blob": "xxx')).toBe(true);
  });
});

describe('BATCH messages: Parquet money', () => {
  // money's scale follows the server's lc_monetary; a third decimal digit must fail the file, not round
  const money = { name: 'm', type: { sqlType: 'money', typname: 'money' }, codec: { kind: 'number' } } as unknown as PlannedColumn;

  it.each([
    ['{"m":1234.56}\n{"m":null}\n', null],
    ['{"m":1.234}\n', /money column m has more than 2 decimal digits/],
  ] as const)('%j', async (records, error) => {
    const dir = mkdtempSync(join(tmpdir(), 'parquet-money-'));
    const out = join(dir, 'out.parquet');
    const write = () => {
      const writer = ParquetWriter.create(out, parquetColumns([money]).columns, {
        compression: 'none',
        recordPrefix: 0,
        ...PARQUET_DEFAULTS,
      });
      try {
        writer.write(Buffer.from(records));
      } catch (err) {
        writer.abort();
        throw err;
      }
      writer.finish();
    };
    if (error) expect(write).toThrow(error);
    else {
      write();
      if (!skip) expect((await readParquet([out])).rows).toEqual([{ m: '1234.56' }, { m: null }]);
    }
  });
});
