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

  it('ends equal to the source after the copy and the changes', async () => {
    const tap = await logBasedTap(source, ['public-accounts']);
    const targetConfig = tmpJson({
      sqlalchemy_url: dest.url.replace(/^postgres:/, 'postgresql+psycopg:'),
      default_target_schema: 'loaded',
      add_record_metadata: true,
    });
    const load = async (state?: unknown): Promise<Record<string, any> | undefined> => {
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
      const { readFileSync } = await import('node:fs');
      return lastState(parseMessages(readFileSync(out, 'utf8')));
    };
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
});
