import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { batchRoot } from '../helpers/batch-files.js';
import { batchesIntoTargetPostgres } from '../helpers/batch-into-target.js';
import { pythonToolsSkip, TOOLS } from '../helpers/python-tools.js';
import { discover, select, tmpJson } from '../helpers/run-tap.js';

const skip = pythonToolsSkip();

describe.skipIf(skip)(`BATCH files into MeltanoLabs target-postgres (${skip ?? 'singer-sdk reads the JSONL batches'})`, () => {
  let source: TestDatabase;
  let dest: TestDatabase;
  let catalog: string;

  beforeAll(async () => {
    source = await nativeDatabase();
    dest = await nativeDatabase();
    await source.sql(`
      CREATE TABLE readings (id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(20,6), doc jsonb, note text);
      INSERT INTO readings
        SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour 7 seconds 123456 microseconds', (g * 1234.567891)::numeric(20,6),
               jsonb_build_object('g', g, 'nested', jsonb_build_object('ok', g % 2 = 0)),
               CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\n' || g || ' ünï "q"' END
          FROM generate_series(1, 3000) g;`);
    catalog = tmpJson(select(await discover(tmpJson({ url: source.url })), { 'public-readings': {} }));
  }, 180_000);
  afterAll(async () => {
    await source?.close();
    await dest?.close();
  });

  it.each(['gzip', 'none'] as const)('loads the %s JSONL batches with the same rows and values as the source', async (compression) => {
    const schema = `loaded_${compression}`;
    const { batch_config } = batchRoot(compression, { batch_size: 700 });
    await batchesIntoTargetPostgres({
      sourceUrl: source.url,
      destUrl: dest.url,
      catalog,
      schema,
      batchConfig: batch_config,
      targetPostgres: TOOLS.targetPostgres,
    });
    const q = (at: string, table: string) =>
      `SELECT id, to_char(${at}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, amount::text AS amount, doc::jsonb AS doc, note FROM ${table} ORDER BY id`;
    const want = await source.sql(q(`at AT TIME ZONE 'UTC'`, 'public.readings'));
    const got = await dest.sql(q('at', `${schema}.readings`));
    expect(got.length).toBe(3000);
    expect(got).toEqual(want);
  });
});
