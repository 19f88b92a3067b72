import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { batchRoot, manifestFiles } from '../helpers/batch-files.js';
import { pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';
import { discover, select, TAP_BIN, tmpJson } from '../helpers/run-tap.js';

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
    const config = tmpJson({ url: source.url, batch_config, state_every_n_rows: 100 });
    const targetConfig = tmpJson({ sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'), default_target_schema: schema });
    const tap = await run(process.execPath, [TAP_BIN, '--config', config, '--catalog', catalog]);
    expect(tap.code, tap.stderr).toBe(0);
    const messages = tap.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(messages.some((m) => m.type === 'RECORD')).toBe(false);
    expect(manifestFiles(messages).length).toBe(5); // 3000 rows in batches of 100, a file closed at 700
    const r = await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `"${TOOLS.targetPostgres}" --config "${targetConfig}" < "${tmpJson(tap.stdout, 'tap.jsonl')}"`,
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const q = (at: string, table: string) =>
      `SELECT id, to_char(${at}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, amount::text AS amount, doc::jsonb AS doc, note FROM ${table} ORDER BY id`;
    const want = await source.sql(q(`at AT TIME ZONE 'UTC'`, 'public.readings'));
    const got = await dest.sql(q('at', `${schema}.readings`));
    expect(got.length).toBe(3000);
    expect(got).toEqual(want);
  });
});
