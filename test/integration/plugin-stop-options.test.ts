import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnEngines, nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { buildExamplePlugin, projectWith } from '../helpers/example-plugin.js';
import { chunkReads, discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';

/**
 * examples/row-budget, built and loaded as a package: a hooks plugin that stops the sync (StopSyncError),
 * the exception policy of hooks, and plugin options everywhere (--plugin-options, --about, load failures).
 */
const PKG = 'tap-timescaledb-row-budget';
const criticals = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));

describe('a plugin that stops the sync, and plugin options', () => {
  let db: TestDatabase;
  let root: string;
  let pluginDir: string;
  let project: string;
  let config: string;
  let catalogPath: string;
  const run = (args: string[]) => runTap(args, { cwd: project });
  const budget = (options: unknown) => ['--plugin', PKG, '--plugin-options', `${PKG}=${JSON.stringify(options)}`];

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE events (id int PRIMARY KEY, v text); INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 1000) g;
                  CREATE TABLE later (id int PRIMARY KEY); INSERT INTO later SELECT generate_series(1, 50);`);
    root = mkdtempSync(join(tmpdir(), 'tap-row-budget-'));
    pluginDir = buildExamplePlugin(root, 'row-budget');
    project = projectWith(root, pluginDir, PKG);
    const file = (name: string, body: string) => writeFileSync(join(pluginDir, name), body);
    file('factory-throws.mjs', "export function createPlugin() { throw new Error('no licence key'); }\n");
    file(
      'flaky.mjs',
      "export default { name: 'flaky', onBatch() { throw new Error('counter broke'); }, onStreamEnd() { throw new Error('also broke'); } };\n",
    );
    file(
      'object-with-schema.mjs',
      "export default { name: 'strict-opts', optionsSchema: { type: 'object', required: ['level'], properties: { level: { type: 'integer' } } } };\n",
    );
    file('flaky-best-effort.mjs', "export default { name: 'flaky', bestEffort: true, onBatch() { throw new Error('counter broke'); } };\n");
    config = tmpJson({ url: db.url, state_every_n_rows: 100 });
    catalogPath = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-events': {}, 'public-later': {} }));
  }, 180_000);
  afterAll(async () => db?.close());

  it('stops at exactly the budget, with STATE at the last complete batch, exit 6 and a CRITICAL line in the plugin’s words', async () => {
    const r = await run(['--config', config, '--catalog', catalogPath, ...budget({ max_rows: 500 })]);
    expect(r.code, r.stderr).toBe(6);
    const got = records(r.messages);
    expect(got.map((x) => x.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(r.messages.at(-1)!.type).toBe('STATE');
    const state = lastState(r.messages)!;
    expect(state.currently_syncing).toBe('public-events');
    expect(state.bookmarks['public-events'].last_pk_fetched).toEqual({ id: 500 });
    expect(criticals(r.stderr)).toEqual([
      'CRITICAL plugin row-budget stopped the sync during public-events: row budget of 500 reached after 500 rows (STATE holds what is complete: rerun with it to resume)',
    ]);
    expect(singerProblems(r.stdout)).toEqual([]);
    // a rerun with that STATE (budget gone) reads the rest, and nothing twice
    const rest = await run(['--config', config, '--catalog', catalogPath, '--state', tmpJson(state)]);
    expect(rest.code, rest.stderr).toBe(0);
    expect(records(rest.messages, 'public-events').map((x) => x.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 501));
    expect(records(rest.messages, 'public-later')).toHaveLength(50);
  });

  it('blames the stream the budget ran out in, whether the first or the next', async () => {
    const one = await run(['--config', config, '--catalog', catalogPath, ...budget({ max_rows: 1 })]);
    expect(one.code).toBe(6);
    expect(records(one.messages)).toHaveLength(100); // the batch in hand is written: state_every_n_rows rows
    expect(criticals(one.stderr)[0]).toMatch(/during public-events: row budget of 1 reached after 100 rows/);
    const next = await run(['--config', config, '--catalog', catalogPath, ...budget({ max_rows: 1040 })]);
    expect(next.code).toBe(6);
    expect(records(next.messages, 'public-events')).toHaveLength(1000);
    expect(records(next.messages, 'public-later')).toHaveLength(50);
    expect(criticals(next.stderr)[0]).toMatch(/during public-later: row budget of 1040 reached after 1050 rows/);
    // a budget per stream: the first stream's 1000 rows do not count against the second's
    const perStream = await run(['--config', config, '--catalog', catalogPath, ...budget({ max_rows: 1001, per: 'stream' })]);
    expect(perStream.code, perStream.stderr).toBe(0);
    expect(records(perStream.messages)).toHaveLength(1050);
  });

  it('fails the sync (exit 5) on an exception in a hook, naming the plugin and the hook; a best-effort plugin is only logged', async () => {
    const strict = await run(['--config', config, '--catalog', catalogPath, '--plugin', join(pluginDir, 'flaky.mjs')]);
    expect(strict.code).toBe(5);
    expect(criticals(strict.stderr)).toHaveLength(1);
    expect(criticals(strict.stderr)[0]).toMatch(/^CRITICAL plugin flaky: onBatch failed: counter broke \(.*bestEffort: true/);
    // its onStreamEnd, called because the stream failed, is only logged: the first failure is the one reported
    expect(strict.stderr).toContain('WARN plugin flaky: onStreamEnd failed: also broke');
    expect(records(strict.messages)).toHaveLength(100);
    expect(lastState(strict.messages)!.bookmarks['public-events'].last_pk_fetched).toEqual({ id: 100 });
    const lax = await run(['--config', config, '--catalog', catalogPath, '--plugin', join(pluginDir, 'flaky-best-effort.mjs')]);
    expect(lax.code, lax.stderr).toBe(0);
    expect(lax.stderr).toContain('WARN plugin flaky: onBatch failed: counter broke');
    expect(records(lax.messages)).toHaveLength(1050);
  });

  it('shows each plugin’s options schema in --about, as JSON and as markdown', async () => {
    const json = await run(['--about', ...budget({ max_rows: 5 })]);
    expect(json.code, json.stderr).toBe(0);
    const about = JSON.parse(json.stdout);
    const plugin = about.plugins.find((p: { name: string }) => p.name === 'row-budget');
    expect(plugin.options.required).toEqual(['max_rows']);
    expect(plugin.options.properties.per).toMatchObject({ enum: ['sync', 'stream'], default: 'sync' });
    expect(about.plugins.map((p: { name: string }) => p.name)).toEqual([
      'timescaledb',
      'compression',
      'metrics',
      'logical-replication',
      'row-budget',
    ]);
    const optionsFile = join(root, 'budget.json');
    writeFileSync(optionsFile, JSON.stringify({ max_rows: 5 }));
    const md = await run(['--about', '--format', 'markdown', '--plugin', PKG, '--plugin-options', `${PKG}=@${optionsFile}`]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain('### row-budget');
    expect(md.stdout).toContain('| max_rows | integer |  | yes | records to write before stopping the sync |');
    expect(md.stdout).toContain('| per | string | "sync" |  | one budget for the run, or one per stream |');
  });

  const failures: [string, (dir: string) => string[], number, RegExp][] = [
    [
      'a required option missing (--plugin without options)',
      () => ['--plugin', PKG],
      5,
      /^CRITICAL plugin module tap-timescaledb-row-budget: invalid options: options\.max_rows is required$/,
    ],
    [
      'an unknown option',
      () => budget({ max_rows: 5, maxrows: 1 }),
      5,
      /^CRITICAL plugin module tap-timescaledb-row-budget: invalid options: options\.maxrows is not a known option$/,
    ],
    ['an option of the wrong type', () => budget({ max_rows: 'many' }), 5, /invalid options: options\.max_rows must be integer$/],
    [
      'a plugin object whose own optionsSchema fails',
      (d) => ['--plugin', join(d, 'object-with-schema.mjs')],
      5,
      /^CRITICAL plugin strict-opts: invalid options: options\.level is required$/,
    ],
    [
      'a factory that throws',
      (d) => ['--plugin', join(d, 'factory-throws.mjs')],
      5,
      /^CRITICAL plugin module .*factory-throws\.mjs failed to create its plugin: no licence key$/,
    ],
    [
      '--plugin-options that are not JSON',
      () => ['--plugin', PKG, '--plugin-options', `${PKG}={max_rows: 5}`],
      2,
      /^CRITICAL --plugin-options for tap-timescaledb-row-budget is not JSON .*@file\.json$/,
    ],
    [
      '--plugin-options for a module not loaded',
      () => ['--plugin-options', `${PKG}={"max_rows":5}`],
      2,
      /^CRITICAL --plugin-options tap-timescaledb-row-budget=.*: give MODULE=JSON for a MODULE also passed with --plugin/,
    ],
  ];
  for (const [what, args, code, message] of failures) {
    it(`fails with exit ${code} and a message naming the plugin for ${what}`, async () => {
      const r = await run(['--config', config, '--catalog', catalogPath, ...args(pluginDir)]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stdout).toBe('');
      expect(criticals(r.stderr)).toHaveLength(1);
      expect(criticals(r.stderr)[0]).toMatch(message);
    });
  }
});

describeOnEngines('a row budget on a compressed hypertable', (engine) => {
  let db: TestDatabase;
  let project: string;
  let config: string;
  let catalogPath: string;
  let all: string[];

  beforeAll(async () => {
    db = await engine.open();
    // 6 one-day chunks of 24 rows, the first 3 compressed
    await db.sql(`
      CREATE TABLE hourly (ts timestamptz NOT NULL, note text NOT NULL);
      SELECT create_hypertable('hourly', by_range('ts', interval '1 day'));
      INSERT INTO hourly SELECT '2024-01-01'::timestamptz + g * interval '1 hour', 'h' || g FROM generate_series(0, 6 * 24 - 1) g;
      ALTER TABLE hourly SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('hourly', older_than => '2024-01-04'::timestamptz) c;`);
    all = (await db.sql<{ note: string }>('SELECT note FROM hourly ORDER BY note')).map((r) => r.note);
    const root = mkdtempSync(join(tmpdir(), 'tap-row-budget-ht-'));
    project = projectWith(root, buildExamplePlugin(root, 'row-budget'), PKG);
    config = tmpJson({
      url: db.url,
      state_every_n_rows: 12,
      timescaledb_chunk_discovery_interval_minutes: 0,
      plugins: [{ module: PKG, options: { max_rows: 60 } }],
    });
    catalogPath = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-hourly': {} }));
  }, 180_000);
  afterAll(async () => db?.close());

  it('stops at exactly the budget mid-chunk; the rerun reads that chunk again and the ones after, nothing lost', async () => {
    const first = await runTap(['--config', config, '--catalog', catalogPath], { cwd: project });
    expect(first.code, first.stderr).toBe(6);
    const before = records(first.messages).map((r) => r.note);
    expect(before).toHaveLength(60); // two chunks and half of the third
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-hourly'].chunks.done_before).toBeDefined();
    expect(criticals(first.stderr)[0]).toMatch(
      /^CRITICAL plugin row-budget stopped the sync during public-hourly: row budget of 60 reached after 60 rows/,
    );
    const rest = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', catalogPath, '--state', tmpJson(state)], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(rest.code, rest.stderr).toBe(0);
    expect(chunkReads(rest.stderr, 'public-hourly')).toHaveLength(4);
    const after = records(rest.messages).map((r) => r.note);
    expect([...new Set([...before, ...after])].sort()).toEqual(all);
    expect(before.length + after.length - all.length).toBe(12); // the half chunk read again
  });
});
