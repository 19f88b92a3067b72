import { createHash } from 'node:crypto';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { batchLines, batchRoot, dirFiles, manifestFiles } from '../helpers/batch-files.js';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { buildExamplePlugin, projectWith } from '../helpers/example-plugin.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/**
 * Record transforms (`ctx.records.transform`) on the copy paths, through examples/masking-plugin built as a
 * package: a key column masked in JS after the bookmark is taken, so a stopped sync resumes where it
 * stopped and loses nothing (a server-side shape on a key is refused at start, naming the plugin); the
 * SCHEMA says what the records hold before the first of them, on RECORD lines and in BATCH files.
 */
const root = mkdtempSync(join(tmpdir(), 'tap-records-'));
let project: string;
let dir: string;
beforeAll(() => {
  const masking = buildExamplePlugin(root, 'masking-plugin');
  project = projectWith(root, masking, 'tap-timescaledb-masking-plugin');
  // the row-budget example stops the sync; installed in the same project
  const budget = buildExamplePlugin(root, 'row-budget');
  symlinkSync(budget, join(project, 'node_modules', 'tap-timescaledb-row-budget'), 'dir');
  // beside the plugin, whose node_modules has tap-timescaledb
  const file = (name: string, body: string) => writeFileSync(join(masking, name), body);
  dir = masking;
  file(
    'shape-on-key.mjs',
    "import { withShape } from 'tap-timescaledb';\nexport default { name: 'key-shaper', register(_c, ctx) { ctx.readers.wrap(() => true, withShape('key-shaper', { columns: [{ name: 'id', sql: 'id * 2', kind: 'integer' }] })); } };\n",
  );
  file(
    'own-reader.mjs',
    "import { copyTableStrategy, withShape } from 'tap-timescaledb';\nexport default { name: 'own-reader', register(_c, ctx) { ctx.readers.register({ name: 'own-reader', precedence: 500, claims: () => true, reader: copyTableStrategy.reader }); ctx.readers.wrap(() => true, withShape('only-even', { where: ['id % 2 = 0'] })); } };\n",
  );
  file(
    'bad-big.mjs',
    "export default { name: 'bad-big', register(_c, ctx) { ctx.records.transform(() => true, { transform: (r) => { r.values.big = 'twelve'; } }); } };\n",
  );
  file(
    'drop-name.mjs',
    "export default { name: 'drop-name', register(_c, ctx) { ctx.records.transform(() => true, { shape: () => ({ drop: ['name'] }), transform: (r) => (r.values.id === '" +
      sha('7') +
      "' ? 'skip' : undefined) }); } };\n",
  );
}, 180_000);

const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const MASK = { module: 'tap-timescaledb-masking-plugin', options: { columns: { 'public-people': ['id', 'email'] } } };
const run = (args: string[]) => runTap(args, { cwd: project });
const criticals = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));

describeOnEngines('a masked key column', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;
  const ids = (recs: Record<string, any>[]) => recs.map((r) => r.id as string);
  const expected = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => sha(String(from + i)));

  beforeAll(async () => {
    db = await engine.open();
    await db.sql(`CREATE TABLE people (id int PRIMARY KEY, name text, email text, big int8);
      INSERT INTO people SELECT g, 'n' || g, 'p' || g || '@example.com', 9007199254740993 + g FROM generate_series(1, 1000) g;`);
    catalog = await discover(tmpJson({ url: db.url }));
  }, 180_000);
  afterAll(async () => db?.close());

  for (const method of ['FULL_TABLE', 'INCREMENTAL'] as const) {
    it(`${method}: stopped at 500 rows and resumed, every row arrives once, masked, and the rerun starts where the stop was`, async () => {
      const selection = method === 'INCREMENTAL' ? { method: 'INCREMENTAL' as const, key: 'id' } : {};
      const cat = tmpJson(select(catalog, { 'public-people': selection }));
      const config = tmpJson({ url: db.url, state_every_n_rows: 100, plugins: [MASK] });
      const budget = ['--plugin', 'tap-timescaledb-row-budget', '--plugin-options', 'tap-timescaledb-row-budget={"max_rows":500}'];
      const first = await run(['--config', config, '--catalog', cat, ...budget]);
      expect(first.code, first.stderr).toBe(6);
      const schema = first.messages.find((m) => m.type === 'SCHEMA')!;
      expect(schema.schema.properties.id).toEqual({ type: ['string', 'null'] });
      expect(schema.key_properties).toEqual(['id']);
      expect(ids(records(first.messages))).toEqual(expected(1, 500));
      // the other column is masked by the server, as before
      expect(records(first.messages)[0]!.email).toBe(sha('p1@example.com'));
      // an int8 past 2^53 goes through the transform digit for digit
      expect(first.stdout).toMatch(/"big":9007199254740995[,}]/); // 2^53 + 3: no double holds it
      const state = lastState(first.messages)!;
      // the bookmark is the value read, not its digest
      const b = state.bookmarks['public-people'];
      expect(method === 'INCREMENTAL' ? b.replication_key_value : b.last_pk_fetched).toEqual(method === 'INCREMENTAL' ? 500 : { id: 500 });
      const rest = await run(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
      expect(rest.code, rest.stderr).toBe(0);
      const again = ids(records(rest.messages));
      // INCREMENTAL reads the bookmark's own row again (>=), FULL_TABLE starts after it
      expect(again).toEqual(expected(method === 'INCREMENTAL' ? 500 : 501, 1000));
      expect(new Set([...ids(records(first.messages)), ...again]).size).toBe(1000);
      if (method === 'INCREMENTAL') {
        const done = await run(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(rest.messages))]);
        expect(ids(records(done.messages))).toEqual(expected(1000, 1000));
      }
    });
  }

  it('in BATCH files (jsonl and Parquet) too, with a dropped property and a skipped record', async () => {
    const cat = tmpJson(select(catalog, { 'public-people': {} }));
    const drop = join(dir, 'drop-name.mjs');
    const jsonl = batchRoot('none');
    const r = await run([
      '--config',
      tmpJson({ url: db.url, plugins: [MASK, { module: drop }], batch_config: jsonl.batch_config }),
      '--catalog',
      cat,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const schema = r.messages.find((m) => m.type === 'SCHEMA')!;
    expect(Object.keys(schema.schema.properties).sort()).toEqual(['big', 'email', 'id']);
    const lines = batchLines(r.messages).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(999);
    expect(lines.map((l) => l.id)).toEqual(expected(1, 1000).filter((h) => h !== sha('7')));
    expect(lines.every((l) => !('name' in l))).toBe(true);
    if (batchToolsSkip()) return;
    const parquet = batchRoot('none', {}, 'parquet');
    const p = await run([
      '--config',
      tmpJson({ url: db.url, plugins: [MASK, { module: drop }], batch_config: parquet.batch_config }),
      '--catalog',
      cat,
    ]);
    expect(p.code, p.stderr).toBe(0);
    const content = await readParquet(manifestFiles(p.messages));
    expect(Object.keys(content.types).sort()).toEqual(['big', 'email', 'id']);
    expect(content.types.id).toBe('string');
    expect(content.rows.map((x) => x.id)).toEqual(expected(1, 1000).filter((h) => h !== sha('7')));
  });

  it('a value that does not fit its Parquet column stops the run naming the file and the column, leaving no file', async () => {
    const parquet = batchRoot('gzip', {}, 'parquet');
    const bad = join(dir, 'bad-big.mjs');
    const r = await run([
      '--config',
      tmpJson({ url: db.url, plugins: [{ module: bad }], batch_config: parquet.batch_config }),
      '--catalog',
      tmpJson(select(catalog, { 'public-people': {} })),
    ]);
    expect(r.code).toBe(1);
    expect(criticals(r.stderr)).toEqual([
      expect.stringMatching(/cannot (write|complete) the batch file .*\.parquet: column big \(Parquet int64\): "twelve" is not an integer/),
    ]);
    expect(r.messages.filter((m) => m.type === 'BATCH')).toEqual([]);
    expect(dirFiles(parquet.dir)).toEqual({ complete: [], partial: [] });
  });

  it('a server-side shape on a key, or one the reader cannot apply, is refused before any output, naming the plugin', async () => {
    const cat = tmpJson(select(catalog, { 'public-people': {} }));
    const key = await run(['--config', tmpJson({ url: db.url, plugins: [{ module: join(dir, 'shape-on-key.mjs') }] }), '--catalog', cat]);
    expect(key.code).toBe(5);
    expect(key.stdout).toBe('');
    expect(criticals(key.stderr)[0]).toMatch(
      /plugin key-shaper: wrapper key-shaper replaces id of public-people, a key or replication key/,
    );
    const own = await run(['--config', tmpJson({ url: db.url, plugins: [{ module: join(dir, 'own-reader.mjs') }] }), '--catalog', cat]);
    expect(own.code).toBe(5);
    expect(own.stdout).toBe('');
    expect(criticals(own.stderr)[0]).toMatch(
      /plugin own-reader: wrapper only-even adds where to public-people, but reader own-reader does not apply it/,
    );
  });
});
