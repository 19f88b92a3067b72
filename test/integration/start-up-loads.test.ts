import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, runTap, select, tmpJson } from '../helpers/run-tap.js';

const CJS_RECORDER = resolve(__dirname, '../fixtures/cjs-recorder.mjs');
const ESM_RECORDER = resolve(__dirname, '../fixtures/import-recorder.mjs');

/**
 * What a plain FULL_TABLE run loads. A start takes ~0.3 s, the whole run of a small table, and ~0.17 s of
 * a 2M-row one's 1.7 s: Ajv's compiler (the validators are built as code: scripts/build-validators.mjs),
 * pg-logical-replication (LOG_BASED only), csv-parse (the general decoder, which the COPY-text transcoder
 * leaves unused) and cli-progress (bars on a terminal only) are loaded where they are needed, not at start.
 */
describe.skipIf(!!nativeSkipReason && !process.env.CI)('a FULL_TABLE run into a pipe loads what it uses', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(
      `CREATE TABLE checked (id int PRIMARY KEY, note text); INSERT INTO checked SELECT g, 'n' || g FROM generate_series(1, 10) g;`,
    );
  });
  afterAll(async () => db?.close());

  it('no Ajv compiler, pg-logical-replication, csv-parse or cli-progress; a bad state and a bad column schema still refused', async () => {
    const config = tmpJson({ url: db.url });
    const catalog = select(await discover(config), { 'public-checked': {} });
    const dir = mkdtempSync(join(tmpdir(), 'tap-loads-'));
    const env = {
      NODE_OPTIONS: `--import ${CJS_RECORDER} --import ${ESM_RECORDER}`,
      CJS_LOG: join(dir, 'cjs.txt'),
      IMPORT_LOG: join(dir, 'esm.txt'),
    };
    const run = await runTap(['--config', config, '--catalog', tmpJson(catalog), '--state', tmpJson({ bookmarks: {} })], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('"type":"RECORD"');
    const loaded = [...readFileSync(env.CJS_LOG, 'utf8').split('\n'), ...readFileSync(env.IMPORT_LOG, 'utf8').split('\n')];
    // the recorders saw the run: pg (CommonJS) and the tap's own modules (ESM)
    expect(loaded.some((p) => p.includes('/node_modules/pg/'))).toBe(true);
    expect(loaded.some((p) => p.includes('/dist/src/core/'))).toBe(true);
    const unwanted = /\/ajv\/dist\/(ajv|core|compile)|\/pg-logical-replication\/|\/csv-parse\/|\/cli-progress\//;
    expect([...new Set(loaded.filter((p) => unwanted.test(p)))]).toEqual([]);

    const badState = await runTap([
      '--config',
      config,
      '--catalog',
      tmpJson(catalog),
      '--state',
      tmpJson({ bookmarks: { 'public-checked': { version: 'v1' } } }),
    ]);
    expect(badState.code).toBe(4);
    expect(badState.stderr).toMatch(/CRITICAL .*bookmarks\/public-checked\/version must be integer/);
    (catalog.streams[0]!.schema.properties as Record<string, unknown>).note = { type: [['string']] };
    const badSchema = await runTap(['--config', config, '--catalog', tmpJson(catalog)]);
    expect(badSchema.code).not.toBe(0);
    expect(badSchema.stderr).toMatch(/CRITICAL .*schema of column "note" is not a valid JSON Schema/);
  });
});
