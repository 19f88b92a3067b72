import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson, type TapRun } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import type { Catalog } from '../../src/core/singer/catalog.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';

/** A failed run: its exit code, one CRITICAL line matching `says`, stdout empty or only complete messages. */
function expectFailure(run: TapRun, code: number, says: RegExp): string {
  expect(run.code, run.stderr).toBe(code);
  const critical = run.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
  expect(critical, run.stderr).toHaveLength(1);
  expect(critical[0]).toMatch(says);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  if (run.stdout.length > 0) expect(singerProblems(run.stdout)).toEqual([]);
  return critical[0]!;
}

/**
 * Input the tap did not write: a broken config, a state from another tap or an older version, a
 * catalog asking for what cannot work. (Malformed catalog and state files, dropped tables and columns,
 * a wrong password: test/integration/cli-errors.test.ts.)
 */
describe.skipIf(nativeSkipReason)('bad input (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  const syncT = (cat: Catalog, state?: unknown): Promise<TapRun> =>
    runTap(['--config', config, '--catalog', tmpJson(cat), ...(state === undefined ? [] : ['--state', tmpJson(state)])]);
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE t(id int PRIMARY KEY, updated_at timestamptz NOT NULL, doc jsonb, flag boolean);
      INSERT INTO t SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour', jsonb_build_object('g', g), g % 2 = 0 FROM generate_series(1, 200) g`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('malformed config JSON: exit 2, names the file and the fix, stdout empty', async () => {
    const path = tmpJson('{"url": "postgres://x@y/z",', 'config.json');
    const run = await runTap(['--config', path, '--discover']);
    expectFailure(run, 2, /config file .*config\.json is not valid JSON.*fix the file/);
    expect(run.stdout).toBe('');
  });

  it('a config that is JSON but not an object of settings: exit 2', async () => {
    const run = await runTap(['--config', tmpJson(['postgres://x@y/z']), '--discover']);
    expectFailure(run, 2, /must hold a JSON object of settings/);
    expect(run.stdout).toBe('');
  });

  it("pipelinewise-tap-postgres's LOG_BASED state ({lsn}): tolerated, FULL_TABLE reads every row", async () => {
    const state = {
      currently_syncing: null,
      bookmarks: { 'public-t': { lsn: 108179064, version: 1700000000000, last_replication_method: 'LOG_BASED' } },
    };
    const run = await syncT(select(catalog, { 'public-t': {} }), state);
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages).map((r) => r.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
  });

  it('a state keyed on another replication key: a warning, and INCREMENTAL starts from the beginning', async () => {
    const state = { bookmarks: { 'public-t': { replication_key: 'id', replication_key_value: 150 } } };
    const run = await syncT(select(catalog, { 'public-t': { method: 'INCREMENTAL', key: 'updated_at' } }), state);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WARN public-t: the state's replication key id differs from updated_at; starting from the beginning/);
    expect(records(run.messages)).toHaveLength(200);
  });

  it('a bookmark value the key column cannot hold: exit 4 before any record, names the stream, the value and the fix', async () => {
    const state = { bookmarks: { 'public-t': { replication_key: 'updated_at', replication_key_value: 'yesterday-ish' } } };
    const run = await syncT(select(catalog, { 'public-t': { method: 'INCREMENTAL', key: 'updated_at' } }), state);
    expectFailure(run, 4, /public-t.*"yesterday-ish".*timestamp with time zone.*remove the bookmark/);
    expect(records(run.messages)).toHaveLength(0);
  });

  it('a last_pk_fetched the key column cannot hold: exit 4, names the stream and the fix', async () => {
    const state = { bookmarks: { 'public-t': { version: 1, last_pk_fetched: { id: 'abc' } } } };
    const run = await syncT(select(catalog, { 'public-t': {} }), state);
    expectFailure(run, 4, /public-t.*"abc".*integer.*remove the bookmark/);
    expect(records(run.messages)).toHaveLength(0);
  });

  for (const [column, type] of [
    ['doc', 'jsonb'],
    ['flag', 'boolean'],
  ] as const) {
    it(`a replication key of type ${type}: exit 3 before any message, names the column and the types that work`, async () => {
      const run = await syncT(select(catalog, { 'public-t': { method: 'INCREMENTAL', key: column } }));
      expectFailure(
        run,
        3,
        new RegExp(`stream public-t: replication key "${column}" has type ${type}, which cannot be ordered as a bookmark; use a timestamp`),
      );
      expect(run.stdout).toBe('');
    });
  }
});

describe.skipIf(nativeSkipReason)('a password with quotes and unicode (a cluster with scram-sha-256)', () => {
  const password = `it's "quoted" \\ ünïcødé ✓ 🔑 @:/?#%`;
  let cluster: OwnCluster;
  beforeAll(async () => {
    cluster = startOwnCluster();
    await cluster.sql(`SET password_encryption = 'scram-sha-256'; CREATE ROLE "tap_ü" LOGIN PASSWORD ${literal(password)};
      CREATE TABLE public.p(id int PRIMARY KEY); INSERT INTO public.p VALUES (1), (2); GRANT SELECT ON public.p TO "tap_ü"`);
    await cluster.setHostAuth(['host all all 127.0.0.1/32 scram-sha-256']);
  });
  afterAll(() => cluster?.destroy());

  it('works as a config setting and inside a url (percent-encoded)', async () => {
    for (const config of [
      { host: '127.0.0.1', port: cluster.port, user: 'tap_ü', password, database: 'postgres' },
      { url: cluster.url('tap_ü', password) },
    ]) {
      const path = tmpJson(config);
      const run = await runTap(['--config', path, '--catalog', tmpJson(select(await discover(path), { 'public-p': {} }))]);
      expect(run.code, run.stderr).toBe(0);
      expect(records(run.messages).map((r) => r.id)).toEqual([1, 2]);
    }
  });

  it('the wrong one: exit 2, names the user, and no password appears', async () => {
    const wrong = `wrong "${password}"`;
    for (const config of [
      { host: '127.0.0.1', port: cluster.port, user: 'tap_ü', password: wrong, database: 'postgres' },
      { url: cluster.url('tap_ü', wrong) },
    ]) {
      const run = await runTap(['--config', tmpJson(config), '--discover']);
      expectFailure(run, 2, /authentication failed for user "tap_ü".*check user and password/);
      expect(run.stdout).toBe('');
      for (const secret of [wrong, password, encodeURIComponent(wrong), 'ünïcødé']) expect(run.stderr).not.toContain(secret);
    }
  });
});

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
