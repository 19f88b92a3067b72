import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';
import { discover, select, TAP_BIN, tmpJson } from '../helpers/run-tap.js';

const skip = pythonToolsSkip();

describe.skipIf(skip)(`Singer clients on the shell (${skip ?? 'target-postgres, singer-check-tap'})`, () => {
  let source: TestDatabase;
  let dest: TestDatabase;
  let config: string;
  let catalog: string;

  beforeAll(async () => {
    source = await nativeDatabase();
    dest = await nativeDatabase();
    await source.sql(`
      CREATE TABLE readings (
        id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(20,6), doc jsonb, tags text[], levels int[], note text);
      INSERT INTO readings
        SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour 7 seconds 123456 microseconds',
               (g * 1234.567891)::numeric(20,6), jsonb_build_object('g', g, 'nested', jsonb_build_object('ok', g % 2 = 0), 'list', jsonb_build_array(g, 'x')),
               ARRAY['a' || g, 'b "quoted"', NULL], ARRAY[g, g + 1], CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\n' || g || ' ünï' END
          FROM generate_series(1, 3000) g;`);
    config = tmpJson({ url: source.url });
    catalog = tmpJson(select(await discover(config), { 'public-readings': {} }));
  }, 180_000);
  afterAll(async () => {
    await source?.close();
    await dest?.close();
  });

  it('pipes into MeltanoLabs target-postgres with the same rows and values, types included', async () => {
    const targetConfig = tmpJson({
      sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'),
      default_target_schema: 'loaded',
      add_record_metadata: true,
    });
    const r = await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `"${process.execPath}" "${TAP_BIN}" --config "${config}" --catalog "${catalog}" | "${TOOLS.targetPostgres}" --config "${targetConfig}"`,
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // target-postgres names the table after the stream without its schema, and loads date-time as timestamp (UTC)
    const q = (
      at: string,
      table: string,
    ) => `SELECT id, to_char(${at}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, amount::text AS amount, doc::jsonb AS doc,
                      to_json(tags)::jsonb AS tags, to_json(levels)::jsonb AS levels, note FROM ${table} ORDER BY id`;
    const want = await source.sql(q(`at AT TIME ZONE 'UTC'`, 'public.readings'));
    const got = await dest.sql(q('at', 'loaded.readings'));
    const [{ type }] = await dest.sql(
      `SELECT data_type AS type FROM information_schema.columns WHERE table_schema = 'loaded' AND column_name = 'doc'`,
    );
    expect(type).toBe('jsonb');
    expect(got.length).toBe(3000);
    expect(got).toEqual(want);
  });

  it('passes singer-check-tap', async () => {
    // singer-check-tap writes a singer-check-tap-data folder into its working directory: not the repo's
    const cwd = mkdtempSync(join(tmpdir(), 'check-tap-'));
    const r = await run(
      'bash',
      ['-o', 'pipefail', '-c', `"${process.execPath}" "${TAP_BIN}" --config "${config}" --catalog "${catalog}" | "${TOOLS.checkTap}"`],
      { cwd },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('The output is valid.');
    expect(r.stdout).toMatch(/3000 record messages/);
  });
});
