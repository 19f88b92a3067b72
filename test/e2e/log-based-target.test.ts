import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { dropSlots, logBasedTap } from '../helpers/log-based.js';
import { pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';
import { lastState, parseMessages, TAP_BIN, tmpJson } from '../helpers/run-tap.js';

const skip = pythonToolsSkip() ?? nativeSkipReason;

/**
 * LOG_BASED into MeltanoLabs target-postgres: after the initial copy and a run of
 * inserts, updates and deletes, the target's live rows equal the source (count and checksum) and the
 * deleted ones carry _sdc_deleted_at.
 */
describe.skipIf(skip)(`LOG_BASED replayed by target-postgres (${skip ?? 'native PostgreSQL'})`, () => {
  let source: TestDatabase;
  let dest: TestDatabase;
  beforeAll(async () => {
    source = await nativeDatabase();
    dest = await nativeDatabase();
    await source.sql(`CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
      INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 2000) g;`);
  }, 180_000);
  afterAll(async () => {
    await dropSlots(source);
    await source?.close();
    await dest?.close();
  });

  const checksum = (db: TestDatabase, table: string, where = 'true') =>
    db.sql(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(id || ':' || owner || ':' || coalesce(balance::text, '-'), ',' ORDER BY id), '')) AS sum FROM ${table} WHERE ${where}`,
    );
  // target-postgres soft-deletes: a deleted row stays, with _sdc_deleted_at set (its hard_delete is for ACTIVATE_VERSION only)
  const live = '_sdc_deleted_at IS NULL';

  /** `tap | tee | target-postgres` as a pipeline runs it; returns the last STATE the tap wrote. */
  const pipeline = async (tap: { config: string; catalog: string }, state?: unknown): Promise<Record<string, any> | undefined> => {
    const targetConfig = tmpJson({
      sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'),
      default_target_schema: 'loaded',
      add_record_metadata: true,
    });
    const args = ['--config', tap.config, '--catalog', tap.catalog, ...(state ? ['--state', tmpJson(state)] : [])]
      .map((a) => `"${a}"`)
      .join(' ');
    const out = tmpJson('', 'messages.jsonl');
    const r = await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `"${process.execPath}" "${TAP_BIN}" ${args} | tee "${out}" | "${TOOLS.targetPostgres}" --config "${targetConfig}"`,
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    return lastState(parseMessages(readFileSync(out, 'utf8')));
  };

  it('ends equal to the source after the copy and the changes', async () => {
    const tap = await logBasedTap(source, ['public-accounts']);
    const load = (state?: unknown) => pipeline(tap, state);
    const state = await load();
    expect(await checksum(dest, 'loaded.accounts', live)).toEqual(await checksum(source, 'public.accounts'));

    await source.sql(`
      UPDATE accounts SET balance = balance + 1 WHERE id % 7 = 0;
      DELETE FROM accounts WHERE id % 11 = 0;
      INSERT INTO accounts SELECT g, 'new ' || g, NULL FROM generate_series(2001, 2100) g;
      UPDATE accounts SET owner = 'renamed' WHERE id BETWEEN 2050 AND 2060;`);
    await load(state);
    const want = await checksum(source, 'public.accounts');
    expect(want[0]!.n).toBe(2000 - 181 + 100);
    expect(await checksum(dest, 'loaded.accounts', live)).toEqual(want);
    const [{ n }] = await dest.sql(`SELECT count(*)::int AS n FROM loaded.accounts WHERE _sdc_deleted_at IS NOT NULL`);
    expect(n).toBe(181);
  });

  it('ends equal after key changes, untouched TOASTed values, TRUNCATE, ADD COLUMN with a default and RENAME COLUMN, the catalog rediscovered before each run', async () => {
    await source.sql(`CREATE TABLE docs (id int PRIMARY KEY, owner text, doc text, n int);
      ALTER TABLE docs ALTER COLUMN doc SET STORAGE EXTERNAL;
      INSERT INTO docs SELECT g, 'o' || g, repeat(md5(g::text), 100), g FROM generate_series(1, 300) g;
      CREATE TABLE gone (id int PRIMARY KEY, v text); INSERT INTO gone SELECT g, 'v' || g FROM generate_series(1, 50) g;`);
    // as Meltano runs it: the catalog discovered again before each run, the state the target confirmed
    const load = async (state?: unknown) => pipeline(await logBasedTap(source, ['public-docs', 'public-gone']), state);
    const same = async (columns: string[]): Promise<void> => {
      const row = columns.map((c) => `coalesce(${c}::text, '-')`).join(` || '|' || `);
      const sum = (db: TestDatabase, table: string, where = 'true') =>
        db.sql(`SELECT count(*)::int AS n, md5(coalesce(string_agg(${row}, ',' ORDER BY id), '')) AS sum FROM ${table} WHERE ${where}`);
      expect(await sum(dest, 'loaded.docs', live)).toEqual(await sum(source, 'public.docs'));
    };
    let state = await load();
    await same(['id', 'owner', 'md5(doc)', 'n']);

    await source.sql(`UPDATE docs SET id = id + 1000 WHERE id % 10 = 0;
      UPDATE docs SET n = -n WHERE id % 7 = 0;
      UPDATE docs SET owner = NULL WHERE id % 9 = 0;
      DELETE FROM docs WHERE id % 11 = 0;
      TRUNCATE gone; INSERT INTO gone VALUES (1, 'after');`);
    state = await load(state);
    await same(['id', 'owner', 'md5(doc)', 'n']);
    expect(await dest.sql(`SELECT id::int AS id, v FROM loaded.gone WHERE ${live}`)).toEqual([{ id: 1, v: 'after' }]);

    await source.sql(
      `UPDATE docs SET n = 0 WHERE id < 50; ALTER TABLE docs ADD COLUMN d int DEFAULT 7; UPDATE docs SET d = 8 WHERE id < 20`,
    );
    state = await load(state);
    await same(['id', 'owner', 'md5(doc)', 'n', 'd']);

    await source.sql(
      `UPDATE docs SET n = 1 WHERE id < 30; ALTER TABLE docs RENAME COLUMN owner TO holder; UPDATE docs SET holder = 'h' WHERE id < 10`,
    );
    state = await load(state);
    await same(['id', 'holder', 'md5(doc)', 'n', 'd']);
    // the run after: nothing to do, still equal
    await load(state);
    await same(['id', 'holder', 'md5(doc)', 'n', 'd']);
  });
});
