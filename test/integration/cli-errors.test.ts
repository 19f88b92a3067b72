import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, runTap, select, tmpJson, type TapRun } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import { startNativeCluster, stopNativeCluster } from '../helpers/native-cluster.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/** A failed run: its exit code, exactly one CRITICAL line matching `says`, and stdout empty or only complete messages. */
function expectFailure(run: TapRun, code: number, says: RegExp): string {
  expect(run.code, run.stderr).toBe(code);
  const critical = run.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
  expect(critical, run.stderr).toHaveLength(1);
  expect(critical[0]).toMatch(says);
  if (run.stdout.length > 0) expect(singerProblems(run.stdout)).toEqual([]);
  return critical[0]!;
}

/**
 * Every way a user's input can be wrong, through the CLI as a runner sees it. (Connection loss, TLS,
 * kills and privileges are covered by the reliability suites.)
 */
describe.skipIf(nativeSkipReason !== undefined)('CLI errors name the problem and the fix (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE kept (id int PRIMARY KEY, v text); INSERT INTO kept VALUES (1, 'a'), (2, 'b');
                  CREATE TABLE gone (id int PRIMARY KEY); CREATE TABLE shrinking (id int PRIMARY KEY, old_col text, v text);`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('unknown database: exit 2, names the database and the setting to check', async () => {
    const url = db.url.replace(/\/[^/]+$/, '/no_such_db');
    const run = await runTap(['--config', tmpJson({ url }), '--discover']);
    expectFailure(run, 2, /database "no_such_db" does not exist.*check the database setting/);
    expect(run.stdout).toBe('');
  });

  it('unknown host: exit 2, names the host and the setting to check', async () => {
    const run = await runTap([
      '--config',
      tmpJson({ host: 'no-such-host.invalid', user: 'u', password: 'secret-pw', database: 'd', retry_attempts: 1 }),
      '--discover',
    ]);
    const line = expectFailure(run, 2, /no-such-host\.invalid.*check the host setting/);
    expect(line).not.toContain('secret-pw');
    expect(run.stdout).toBe('');
  });

  it('a table of the catalog that no longer exists: exit 3 before any message, names the stream and the fix', async () => {
    await db.sql('DROP TABLE gone');
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-kept': {}, 'public-gone': {} }))]);
    expectFailure(run, 3, /stream public-gone: table "public"\."gone" no longer exists \(deselect the stream or run --discover\)/);
    expect(run.stdout).toBe('');
  });

  it('a selected column that was dropped: exit 3, names the column and the fix', async () => {
    await db.sql('ALTER TABLE shrinking DROP COLUMN old_col');
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-shrinking': {} }))]);
    expectFailure(run, 3, /stream public-shrinking: column\(s\) "old_col" no longer exist \(deselect them or run --discover\)/);
    expect(run.stdout).toBe('');
  });

  it('a selected column whose type changed since discovery: exit 3, names the column, both types and the fix', async () => {
    await db.sql(`ALTER TABLE shrinking ALTER COLUMN v TYPE int USING length(v)`);
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-shrinking': { columns: ['id', 'v'] } }))]);
    expectFailure(
      run,
      3,
      /stream public-shrinking: column "v" is integer now \(JSON integer\), but the catalog's schema says string \(run --discover, or fix the column's schema in the catalog\)/,
    );
    expect(run.stdout).toBe('');
    // a type that still fits the catalog's schema is no problem: integer values are numbers
    const widened = structuredClone(catalog);
    widened.streams.find((s) => s.tap_stream_id === 'public-shrinking')!.schema.properties.v = { type: ['number', 'null'] };
    const ok = await runTap(['--config', config, '--catalog', tmpJson(select(widened, { 'public-shrinking': { columns: ['id', 'v'] } }))]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('malformed catalog JSON: exit 3, names the file and the fix', async () => {
    const path = tmpJson('{"streams": [', 'catalog.json');
    const run = await runTap(['--config', config, '--catalog', path]);
    expectFailure(run, 3, new RegExp(`catalog file ${path.replace(/[.]/g, '\\.')} is not valid JSON.*fix the file`));
    expect(run.stdout).toBe('');
  });

  it('a catalog that is JSON but not a catalog: exit 3, says to run --discover', async () => {
    const run = await runTap(['--config', config, '--catalog', tmpJson({ tables: [] })]);
    expectFailure(run, 3, /has no "streams" list; run --discover/);
  });

  it('malformed state JSON: exit 4, names the file and the fix', async () => {
    const path = tmpJson('{"bookmarks": {"public-kept": ', 'state.json');
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-kept': {} })), '--state', path]);
    expectFailure(run, 4, /state file .*state\.json is not valid JSON.*fix the file/);
    expect(run.stdout).toBe('');
  });

  it('a state that is JSON but not a state: exit 4, says what to pass', async () => {
    const run = await runTap([
      '--config',
      config,
      '--catalog',
      tmpJson(select(catalog, { 'public-kept': {} })),
      '--state',
      tmpJson({ bookmarks: [1] }),
    ]);
    expectFailure(run, 4, /"bookmarks" that is not an object; pass the last STATE value or \{\}/);
  });

  it('a bookmark for a stream that no longer exists: a warning, the sync runs, the bookmark is kept', async () => {
    const orphan = { replication_key: 'ts', replication_key_value: '2024-01-01T00:00:00Z' };
    const state = { bookmarks: { 'public-dropped_long_ago': orphan }, currently_syncing: null };
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-kept': {} })), '--state', tmpJson(state)]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WARN.*bookmarks for streams not in the catalog \(kept as they are\): public-dropped_long_ago/);
    expect(run.stderr).not.toContain('CRITICAL');
    expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
    expect(lastState(run.messages)!.bookmarks['public-dropped_long_ago']).toEqual(orphan);
  });
});

/**
 * The wrong password needs a server that asks for one: the throw-away cluster trusts every local
 * connection, so this starts a second one whose pg_hba asks scram-sha-256 of one role.
 */
describe.skipIf(nativeSkipReason !== undefined)('a wrong password (a cluster with scram-sha-256)', () => {
  let dir: string;
  let admin: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tap-scram-'));
    chmodSync(dir, 0o755); // the server runs as the postgres user when we are root
    admin = startNativeCluster(join(dir, 'data')).url;
    const hba = join(dir, 'data', 'pg_hba.conf');
    writeFileSync(hba, `host all tap_scram 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
  });
  afterAll(() => {
    if (!dir) return;
    stopNativeCluster(join(dir, 'data'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('exit 2, names the user and what to check, never the password', async () => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(
      `SET password_encryption = 'scram-sha-256'; CREATE ROLE tap_scram LOGIN PASSWORD 'right-horse-battery'; SELECT pg_reload_conf()`,
    );
    await client.end();
    const url = admin.replace(/postgres:\/\/postgres@/, 'postgres://tap_scram:wrong-staple-42@');
    const run = await runTap(['--config', tmpJson({ url }), '--discover']);
    const line = expectFailure(run, 2, /authentication failed for user "tap_scram".*check user and password/);
    expect(run.stderr).not.toContain('wrong-staple-42');
    expect(line).not.toContain('right-horse-battery');
    expect(run.stdout).toBe('');
    // and the right one works: the failure was the password, not the setup
    const ok = await runTap(['--config', tmpJson({ url: url.replace('wrong-staple-42', 'right-horse-battery') }), '--discover']);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('the CLI itself: answers on stdout, one CRITICAL line for bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tap-cli-'));

  it('--version prints the version on stdout (so $(tap-timescaledb --version) works)', async () => {
    const run = await runTap(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')).version);
  });

  it('an unknown flag: exit 2 and exactly one stderr line, the CRITICAL one', async () => {
    const run = await runTap(['--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^CRITICAL bad arguments: unknown option '--bogus'; see --help$/),
    ]);
    expect(run.stdout).toBe('');
  });

  it('a config hint keeps its postgres://user:password@host placeholder readable, while real passwords are redacted', async () => {
    const hint = await runTap(['--config', tmpJson({}), '--discover']);
    expectFailure(hint, 2, /give a single url: postgres:\/\/user:password@host:port\/database/);
    const secret = await runTap(['--config', tmpJson({ url: 'postgres://u:s3cr3t-pw@127.0.0.1:1/x', retry_attempts: 1 }), '--discover']);
    expect(secret.code).not.toBe(0);
    expect(secret.stderr).not.toContain('s3cr3t-pw');
  });

  it("an unknown config key is named with the config's secrets and any URL's password redacted (input fuzz seed 1354365210)", async () => {
    const config = tmpJson({
      url: 'postgres://u:s3cr3t-pw@127.0.0.1:1/x',
      retry_attempts: 1,
      's3://key:other@bucket/p': 1,
      'was s3cr3t-pw': 2,
    });
    const run = await runTap(['--config', config, '--discover']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('WARN config keys'))).toEqual([
      'WARN config keys not used by the tap (ignored): s3://key:***@bucket/p, was ***',
    ]);
    expect(run.stderr).not.toMatch(/s3cr3t-pw|key:other@/);
  });

  it('a catalog whose schema.properties is null or whose metadata is not a list: exit 3', async () => {
    const config = tmpJson({ url: 'postgres://u@127.0.0.1:1/x' });
    for (const stream of [
      { tap_stream_id: 'public-t', schema: { properties: null }, metadata: [] },
      { tap_stream_id: 'public-t', schema: { properties: {} }, metadata: { selected: true } },
    ]) {
      const run = await runTap(['--config', config, '--catalog', tmpJson({ streams: [stream] })]);
      expectFailure(
        run,
        3,
        /the catalog .* stream public-t has (no schema\.properties object|metadata that is not a list); run --discover/,
      );
      expect(run.stdout).toBe('');
    }
  });

  it('a plugin that registers a reader strategy name already taken: exit 5 naming the plugin', async () => {
    const plugin = join(dir, 'dup-strategy.mjs');
    writeFileSync(
      plugin,
      `export default { name: 'dup-strategy', register(_c, ctx) {
      ctx.readers.register({ name: 'copy-table', precedence: 1, claims: () => true, reader: { read: async function* () {} } });
    } };\n`,
    );
    const run = await runTap(['--config', tmpJson({ url: 'postgres://u@127.0.0.1:1/x' }), '--discover', '--plugin', plugin]);
    expectFailure(run, 5, /plugin dup-strategy failed to register: a reader strategy named copy-table is registered already/);
  });
});
