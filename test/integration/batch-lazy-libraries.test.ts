import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { batchRoot } from '../helpers/batch-files.js';
import { discover, runTap, select, tmpJson } from '../helpers/run-tap.js';

const RECORDER = resolve(__dirname, '../fixtures/import-recorder.mjs');
const HEAVY = /@duckdb|@aws-sdk/;

/**
 * The AWS SDK serves BATCH files on S3 only. Loaded at start-up it and DuckDB (the Parquet writer before the
 * tap's own) cost every run ~0.25 s and ~25 MB (measured: `--about` 0.6 s / 97 MB with them, 0.35 s / 72 MB
 * without), so a run loads the SDK only when its batch_config names an s3:// root, and no run loads DuckDB,
 * now a development dependency of the bench and the tests only.
 */
describe.skipIf(!!nativeSkipReason && !process.env.CI)('BATCH libraries load only when batch_config needs them', () => {
  let db: TestDatabase;
  let catalog: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE lazy (id int PRIMARY KEY, note text); INSERT INTO lazy SELECT g, 'n' || g FROM generate_series(1, 100) g;`);
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-lazy': {} }));
  });
  afterAll(async () => db?.close());

  async function loaded(config: Record<string, unknown>): Promise<string[]> {
    const log = join(mkdtempSync(join(tmpdir(), 'tap-imports-')), 'imports.txt');
    const run = await runTap(['--config', tmpJson({ url: db.url, ...config }), '--catalog', catalog], {
      env: { NODE_OPTIONS: `--import ${RECORDER}`, IMPORT_LOG: log },
    });
    expect(run.code, run.stderr).toBe(0);
    const urls = readFileSync(log, 'utf8').split('\n');
    expect(
      urls.some((u) => u.includes('/dist/src/')),
      'the recorder saw the tap load',
    ).toBe(true);
    return [...new Set(urls.filter((u) => HEAVY.test(u)).map((u) => u.match(/@(duckdb|aws-sdk)/)![0]))];
  }

  it('a RECORD run and a JSONL batch run load neither DuckDB nor the AWS SDK', async () => {
    expect(await loaded({})).toEqual([]);
    expect(await loaded({ batch_config: batchRoot('gzip').batch_config })).toEqual([]);
  });

  it('a Parquet batch run loads neither: its writer is the tap’s own', async () => {
    expect(await loaded({ batch_config: batchRoot('gzip', {}, 'parquet').batch_config })).toEqual([]);
  });
});
