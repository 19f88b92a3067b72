import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson, type TapRun } from '../helpers/run-tap.js';
import type { Catalog, CatalogEntry } from '../../src/core/singer/catalog.js';

const FIXTURES = resolve(__dirname, '../fixtures');

/** A refused input: its exit code, one CRITICAL line naming the problem, nothing on stdout, no JavaScript error text. */
function refused(run: TapRun, code: number, says: RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  const critical = run.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
  expect(critical, run.stderr).toHaveLength(1);
  expect(critical[0]).toMatch(says);
  expect(run.stderr).not.toMatch(/is not a function|Cannot read properties|Maximum call stack|URI malformed|^\s+at /m);
  expect(run.stdout).toBe('');
}

function rootMetadata(entry: CatalogEntry): Record<string, unknown> {
  return entry.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
}

/**
 * Input files written by hand or by other tools, made hostile as a security reviewer would (issue #21):
 * each is refused before the first message with its exit code, the file, the path in it and the fix.
 */
describe.skipIf(nativeSkipReason)('hostile and malformed input (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  const sync = (cat: Catalog, state?: unknown, env?: Record<string, string>): Promise<TapRun> =>
    runTap(['--config', config, '--catalog', tmpJson(cat), ...(state === undefined ? [] : ['--state', tmpJson(state, 'state.json')])], {
      env,
    });
  const one = (mutate: (entry: CatalogEntry) => void, id = 'public-t'): Catalog => {
    const cat = select(catalog, { [id]: {} });
    mutate(cat.streams.find((s) => s.tap_stream_id === id)!);
    return cat;
  };
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE t(id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;
      CREATE TABLE canary(id int PRIMARY KEY, secret text); INSERT INTO canary VALUES (1, 'canary');
      CREATE TABLE "t
INFO forged"(id int PRIMARY KEY); INSERT INTO "t
INFO forged" VALUES (1);`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('a state whose version would forge records (\'1,"record":{…}\', a newline): exit 4 naming the path, no record written', async () => {
    for (const version of ['1,"record":{"id":666}', '1}\n{"type":"RECORD","stream":"public-t","record":{"id":666}}\n{"x":{', 1.5]) {
      const run = await sync(select(catalog, { 'public-t': {} }), { bookmarks: { 'public-t': { version } } });
      refused(run, 4, /the state .*state\.json is malformed: at \/bookmarks\/public-t\/version must be integer.*pass the last STATE/);
    }
  });

  it('a state nested 10,000 deep: exit 4 naming the file, not a stack overflow', async () => {
    const deep = `{"bookmarks":{"public-t":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}}`;
    const run = await sync(select(catalog, { 'public-t': {} }), deep);
    refused(run, 4, /the state file .*state\.json nests deeper than 64 levels at \/bookmarks\/public-t\/a\/a/);
  });

  it('last_pk_fetched as a string, chunks.done_before not an integer: exit 4 before any message', async () => {
    let run = await sync(select(catalog, { 'public-t': {} }), { bookmarks: { 'public-t': { version: 1, last_pk_fetched: '5' } } });
    refused(run, 4, /at \/bookmarks\/public-t\/last_pk_fetched must be object/);
    run = await sync(select(catalog, { 'public-t': {} }), { bookmarks: { 'public-t': { chunks: { done_before: '1e5' } } } });
    refused(run, 4, /at \/bookmarks\/public-t\/chunks\/done_before must match pattern/);
  });

  it("a bad bookmark value in the second stream's bookmark: exit 4 before the first stream is written", async () => {
    expect(catalog.streams.map((s) => s.tap_stream_id).indexOf('public-canary')).toBeLessThan(
      catalog.streams.map((s) => s.tap_stream_id).indexOf('public-t'),
    );
    const state = { bookmarks: { 'public-t': { version: 1, last_pk_fetched: { id: 'abc' } } } };
    const run = await sync(select(catalog, { 'public-t': {}, 'public-canary': {} }), state);
    refused(run, 4, /public-t.*"abc".*integer.*remove the bookmark/);
  });

  it('catalog fields of the wrong type: exit 3 naming the path, not a JavaScript error', async () => {
    let run = await sync(one((e) => (rootMetadata(e)['table-key-properties'] = 'id')));
    refused(
      run,
      3,
      /the catalog .* is malformed: at \/streams\/\d+\/metadata\/0\/metadata\/table-key-properties must be array.*run --discover/,
    );
    run = await sync(one((e) => (rootMetadata(e)['replication-method'] = 42)));
    refused(run, 3, /at \/streams\/\d+\/metadata\/0\/metadata\/replication-method must be string/);
    run = await sync(one((e) => (e.key_properties = 'id' as unknown as string[])));
    refused(run, 3, /at \/streams\/\d+\/key_properties must be array/);
  });

  it('a column schema that is not a JSON Schema (found by the fuzz test): exit 3 naming the column, no SCHEMA no target can compile', async () => {
    const run = await sync(one((e) => (e.schema.properties.v!.type = [['string', 'null']] as unknown as string)));
    refused(
      run,
      3,
      /stream public-t: the catalog's schema of column "v" is not a valid JSON Schema \(at \/type .*\); fix it or run --discover/,
    );
  });

  it('a NUL in a table or schema name: exit 3 naming the path', async () => {
    let run = await sync(one((e) => (e.table_name = 't\u0000')));
    refused(run, 3, /at \/streams\/\d+\/table_name must match pattern .*a NUL character is not allowed/);
    run = await sync(one((e) => (rootMetadata(e)['schema-name'] = 'pub\u0000lic')));
    refused(run, 3, /at \/streams\/\d+\/metadata\/0\/metadata\/schema-name must match pattern/);
  });

  it('a NUL in filter_schemas, a bad %-escape in url: exit 2 naming the setting', async () => {
    let run = await runTap(['--config', tmpJson({ url: db.url, filter_schemas: ['public\u0000'] }), '--discover']);
    refused(run, 2, /invalid config: filter_schemas\.0 holds a NUL character/);
    run = await runTap([
      '--config',
      tmpJson({ url: db.url.replace('://', '://bad%zzuser@').replace(/\/\/bad%zzuser@[^@]*@/, '//bad%zzuser@') }),
      '--discover',
    ]);
    refused(run, 2, /url's user has a malformed %-escape; write a literal % as %25/);
  });

  it('a late_arrival_lookback that is not an interval: exit 2 before any message, naming the setting', async () => {
    const bad = tmpJson({ url: db.url, late_arrival_lookback: "2 hours'; DROP TABLE t; --" });
    const run = await runTap(['--config', bad, '--catalog', tmpJson(select(catalog, { 'public-t': {} }))]);
    refused(run, 2, /late_arrival_lookback "2 hours'; DROP TABLE t; --" is not a PostgreSQL interval .*give e\.g\. "2 hours"/);
  });

  it("a stream whose table_name names another table: exit 3, instead of reading t under canary's id and bookmark", async () => {
    const run = await sync(one((e) => (e.table_name = 't'), 'public-canary'));
    refused(run, 3, /stream public-canary names the table "public"."t", whose stream is public-t/);
  });

  it('a plugin whose factory rejects, and one whose load never settles: exit 5 naming it', async () => {
    let run = await runTap(['--config', config, '--discover', '--plugin', `${FIXTURES}/rejecting-plugin.mjs`]);
    refused(run, 5, /plugin module .*rejecting-plugin\.mjs failed to create its plugin: the factory gave up/);
    const started = Date.now();
    run = await runTap(['--config', config, '--discover', '--plugin', `${FIXTURES}/hanging-plugin.mjs`], {
      env: { TAP_PLUGIN_LOAD_TIMEOUT_MS: '1500' },
    });
    refused(run, 5, /plugin module .*hanging-plugin\.mjs did not load within 1\.5 s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('a table name holding a newline cannot forge a log line', async () => {
    const id = catalog.streams.find((s) => s.table_name.includes('\n'))!.tap_stream_id;
    const run = await sync(select(catalog, { [id]: {} }));
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toEqual([{ id: 1 }]);
    expect(run.stderr).toContain('public-t\\nINFO forged');
    expect(run.stderr).not.toMatch(/^INFO forged/m);
  });
});

/**
 * Privileges short of SELECT on the whole table (issue #21): a table readable only through column grants
 * is discovered with its other columns marked unsupported; selecting an ungranted column exits 3 naming
 * it; row-level security that hides rows from the role is warned about.
 */
describe.skipIf(nativeSkipReason)('column grants and row-level security (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  const role = `col_reader_${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE ROLE ${role} LOGIN;
      CREATE TABLE col_t(id int PRIMARY KEY, shown text, secret text); INSERT INTO col_t VALUES (1, 'a', 's1'), (2, 'b', 's2');
      CREATE TABLE rls_t(id int PRIMARY KEY, owner text); INSERT INTO rls_t VALUES (1, '${role}'), (2, 'someone else');
      ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY; CREATE POLICY mine ON rls_t USING (owner = current_user);
      GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT (id, shown) ON col_t TO ${role}; GRANT SELECT ON rls_t TO ${role};`);
    const url = new URL(db.url);
    url.username = role;
    url.password = '';
    config = tmpJson({ url: url.toString() });
  });
  afterAll(async () => db?.close());

  it('a table readable through column grants is discovered and synced without the ungranted column', async () => {
    const catalog = await discover(config);
    const entry = catalog.streams.find((s) => s.tap_stream_id === 'public-col_t')!;
    expect(entry).toBeDefined();
    const secret = entry.metadata.find((m) => m.breadcrumb[1] === 'secret')!.metadata;
    expect(secret.inclusion).toBe('unsupported');
    expect(secret['unsupported-description']).toMatch(
      /no SELECT privilege on this column: GRANT SELECT \("?secret"?\) ON "?public"?\."?col_t"?/,
    );
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-col_t': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toEqual([
      { id: 1, shown: 'a' },
      { id: 2, shown: 'b' },
    ]);
  });

  it('selecting the ungranted column: exit 3 naming the column, before any message', async () => {
    const catalog = select(await discover(config), { 'public-col_t': {} });
    const md = catalog.streams
      .find((s) => s.tap_stream_id === 'public-col_t')!
      .metadata.find((m) => m.breadcrumb[1] === 'secret')!.metadata;
    md.inclusion = 'available';
    md.selected = true;
    const run = await runTap(['--config', config, '--catalog', tmpJson(catalog)]);
    refused(run, 3, /stream public-col_t: the role may not read column\(s\) "secret" of "public"."col_t" \(deselect them, or GRANT SELECT/);
  });

  it('row-level security that hides rows: a warning naming the stream, and the visible rows', async () => {
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(await discover(config), { 'public-rls_t': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /WARN public-rls_t: row-level security applies to this role on "public"."rls_t": only the rows its policies show are read/,
    );
    expect(records(run.messages)).toEqual([{ id: 1, owner: role }]);
  });
});

/**
 * No secret and no file's content in any error (issue #31): a config with a single-quoted password
 * printed `"password":'Sup3rSecr` (JSON.parse quotes the text around the fault), and
 * `--plugin-options X=@/etc/shadow` printed the file's first bytes. Errors name the file, and the line
 * and column; none of these needs a server, nor reaches one.
 */
describe('input text never reaches an error', () => {
  const SECRET = 'Sup3rSecretValue';
  const config = JSON.stringify({ url: 'postgres://tap@127.0.0.1:1/db' });
  /** what /etc/shadow looks like: not JSON, and every byte of it a secret */
  const shadow = tmpJson(`root:$6$${SECRET}$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`, 'shadow');
  const plugin = `${FIXTURES}/options-sink-plugin.mjs`;
  const secretFree = (run: TapRun): void => {
    expect(run.stderr).not.toContain(SECRET);
    expect(run.stderr).not.toContain(SECRET.slice(0, 8));
    expect(run.stderr).not.toContain('$6$'); // the shadow file's first bytes
  };

  it('a config with a single-quoted password: exit 2 naming the file, line and column, not the text', async () => {
    const path = tmpJson(`{"url": "postgres://tap@127.0.0.1:1/db",\n  "password": '${SECRET}'}`, 'config.json');
    const run = await runTap(['--config', path, '--discover']);
    refused(
      run,
      2,
      /the config file .*config\.json is not valid JSON \(a value was expected, found a single quote .* at line 2, column 15\); fix the file/,
    );
    secretFree(run);
  });

  it('a config cut short, with a trailing comma, or not JSON at all (the shadow file): each placed, none quoted', async () => {
    for (const [text, says] of [
      [`{"password": "${SECRET}`, /a string that is never closed at line 1, column 14/],
      [`{"password": "${SECRET}",\n}`, /a trailing ',' before '}' \(JSON allows none\) at line 2, column 1/],
      [`\ufeff{"password": "${SECRET}"}`, /a byte-order mark/],
    ] as const) {
      const run = await runTap(['--config', tmpJson(text, 'config.json'), '--discover']);
      refused(run, 2, says);
      secretFree(run);
    }
    const run = await runTap(['--config', shadow, '--discover']);
    refused(run, 2, /the config file .*shadow is not valid JSON \(a value was expected, found a word without quotes at line 1, column 1\)/);
    secretFree(run);
  });

  it('--plugin-options X=@/etc/shadow: exit 2 naming the file only', async () => {
    const run = await runTap(['--config', tmpJson(config), '--discover', '--plugin', plugin, '--plugin-options', `${plugin}=@${shadow}`]);
    refused(
      run,
      2,
      new RegExp(`the options of plugin .*options-sink-plugin\\.mjs file ${shadow} is not valid JSON \\(.* at line 1, column 1\\)`),
    );
    secretFree(run);
  });

  it('--plugin-options with single quotes, or without MODULE=: the JSON is not quoted back', async () => {
    let run = await runTap([
      '--config',
      tmpJson(config),
      '--discover',
      '--plugin',
      plugin,
      '--plugin-options',
      `${plugin}={'token':'${SECRET}'}`,
    ]);
    refused(
      run,
      2,
      /--plugin-options for .*options-sink-plugin\.mjs is not JSON \(a property name in double quotes was expected, .* at column 2\);/,
    );
    secretFree(run);
    run = await runTap(['--config', tmpJson(config), '--discover', '--plugin', plugin, '--plugin-options', `{"token":"${SECRET}"}`]);
    refused(run, 2, /--plugin-options \(a value without MODULE=\): give MODULE=JSON/);
    secretFree(run);
    run = await runTap(['--config', tmpJson(config), '--discover', '--plugin', plugin, '--plugin-options', `other={"token":"${SECRET}"}`]);
    refused(run, 2, /--plugin-options other=…: give MODULE=JSON for a MODULE also passed with --plugin/);
    secretFree(run);
  });

  it('a catalog or state that is the shadow file: exit 3 / 4 naming the file only', async () => {
    const catalog = tmpJson({ streams: [] });
    let run = await runTap(['--config', tmpJson(config), '--catalog', shadow]);
    refused(run, 3, /the catalog file .*shadow is not valid JSON \(.* at line 1, column 1\)/);
    secretFree(run);
    run = await runTap(['--config', tmpJson(config), '--catalog', catalog, '--state', shadow]);
    refused(run, 4, /the state file .*shadow is not valid JSON \(.* at line 1, column 1\)/);
    secretFree(run);
  });

  it('a url without its scheme (user:password@host/db): exit 2 without quoting it', async () => {
    const run = await runTap(['--config', tmpJson({ url: `tap:${SECRET}@127.0.0.1:5432/db` }), '--discover']);
    refused(run, 2, /url must start with postgres:\/\/ or postgresql:\/\//);
    secretFree(run);
  });
});
