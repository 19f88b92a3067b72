import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { batchRoot } from '../helpers/batch-files.js';
import { batchesIntoTargetPostgres } from '../helpers/batch-into-target.js';
import { BATCH_TOOLS, batchToolsSkip } from '../helpers/batch-tools.js';
import { discover, select, tmpJson } from '../helpers/run-tap.js';

const skip = batchToolsSkip();

describe.skipIf(skip)(`Parquet BATCH files into MeltanoLabs target-postgres (${skip ?? 'singer-sdk reads them with pyarrow'})`, () => {
  let source: TestDatabase;
  let dest: TestDatabase;
  let catalog: string;

  beforeAll(async () => {
    source = await nativeDatabase();
    dest = await nativeDatabase();
    await source.sql(`
      CREATE TABLE readings (id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(14,6), ok boolean, doc jsonb, note text);
      INSERT INTO readings
        SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour 7 seconds 123456 microseconds', (g * 1234.567891)::numeric(14,6),
               CASE WHEN g % 7 = 0 THEN NULL ELSE g % 2 = 0 END,
               jsonb_build_object('g', g, 'nested', jsonb_build_object('ok', g % 2 = 0)),
               CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\n' || g || ' ünï "q"' END
          FROM generate_series(1, 3000) g;`);
    catalog = tmpJson(select(await discover(tmpJson({ url: source.url })), { 'public-readings': {} }));
  }, 180_000);
  afterAll(async () => {
    await source?.close();
    await dest?.close();
  });

  it.each(['gzip', 'none'] as const)('loads the %s Parquet batches with the rows and values of the source', async (compression) => {
    const schema = `loaded_${compression}`;
    const { batch_config } = batchRoot(compression, { batch_size: 700 }, 'parquet');
    await batchesIntoTargetPostgres({
      sourceUrl: source.url,
      destUrl: dest.url,
      catalog,
      schema,
      batchConfig: batch_config,
      targetPostgres: BATCH_TOOLS.targetPostgres,
    });
    const q = (at: string, table: string, doc: string) =>
      `SELECT id, to_char(${at}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, amount::text AS amount, ok, ${doc} AS doc, note FROM ${table} ORDER BY id`;
    const want = await source.sql(q(`at AT TIME ZONE 'UTC'`, 'public.readings', 'doc::text'));
    // Parquet carries JSON as text, and singer-sdk hands that text on as a string: the jsonb column holds a JSON
    // string whose text is the document (compact), not the document itself
    const got = await dest.sql(q('at', `${schema}.readings`, `(doc #>> '{}')::jsonb::text`));
    expect(got.length).toBe(3000);
    expect(got).toEqual(want);
    const [kind] = await dest.sql(`SELECT jsonb_typeof(doc) AS t FROM ${schema}.readings LIMIT 1`);
    expect(kind!.t).toBe('string');
  });
});
