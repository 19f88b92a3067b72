import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnEngines, nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { buildExamplePlugin, projectWith } from '../helpers/example-plugin.js';
import { chunkReads, discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/**
 * examples/soft-delete-filter, built and loaded as a package: a reader plugin that wraps whichever reader
 * the tap chose (default COPY reader, TimescaleDB chunk reader) with a server-side predicate and a computed
 * column. What it protects: the wrapped reader keeps its chunks, per-chunk STATE and resume.
 */
const root = mkdtempSync(join(tmpdir(), 'tap-soft-delete-'));
let pluginDir: string;
let project: string;
beforeAll(() => {
  pluginDir = buildExamplePlugin(root, 'soft-delete-filter');
  project = projectWith(root, pluginDir, 'tap-timescaledb-soft-delete-filter');
}, 120_000);

const PLUGIN = { module: 'tap-timescaledb-soft-delete-filter' };
const run = (args: string[], env: Record<string, string> = {}) => runTap(args, { cwd: project, env });

async function currentUser(db: TestDatabase): Promise<string> {
  const [row] = await db.sql<{ u: string }>('SELECT current_user AS u');
  return row!.u;
}

describeOnEngines('a soft-delete filter wrapped around the chunk reader', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;
  let config: string;
  let kept: string[];
  let chunks: number;

  beforeAll(async () => {
    db = await engine.open();
    // 8 one-day chunks, the first 4 compressed; every 5th row deleted, every 7th flag NULL (kept)
    await db.sql(`
      CREATE TABLE readings (ts timestamptz NOT NULL, device int NOT NULL, note text NOT NULL, is_deleted boolean);
      SELECT create_hypertable('readings', by_range('ts', interval '1 day'));
      INSERT INTO readings
        SELECT '2024-01-01'::timestamptz + g * interval '1 hour', g % 3, 'n' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 5 = 0 END
          FROM generate_series(0, 8 * 24 - 1) g;
      ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
      SELECT compress_chunk(c) FROM show_chunks('readings', older_than => '2024-01-05'::timestamptz) c;`);
    kept = (await db.sql<{ note: string }>(`SELECT note FROM readings WHERE is_deleted IS NOT TRUE ORDER BY note`)).map((r) => r.note);
    const [n] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM show_chunks('readings')`);
    chunks = Number(n!.n);
    // loaded by path here (the kill helper runs in this folder), as a package in the plain-table suite
    config = tmpJson({
      url: db.url,
      state_every_n_rows: 10,
      timescaledb_chunk_discovery_interval_minutes: 0,
      plugins: [{ module: join(pluginDir, 'dist/soft-delete-filter.js') }],
    });
    catalog = select(await discover(tmpJson({ url: db.url })), { 'public-readings': {} });
  }, 180_000);
  afterAll(async () => db?.close());

  it('leaves deleted rows on the server, adds the computed column, and still reads chunk by chunk', async () => {
    expect(chunks).toBe(8);
    const r = await run(['--config', config, '--catalog', tmpJson(catalog)], { TAP_LOG_LEVEL: 'debug' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('with reader soft-delete-filter(timescaledb-chunks)');
    const got = records(r.messages);
    expect(got.map((x) => x.note).sort()).toEqual(kept);
    const user = await currentUser(db);
    expect(new Set(got.map((x) => x._extracted_by))).toEqual(new Set([user]));
    const schema = r.messages.find((m) => m.type === 'SCHEMA')!.schema;
    expect(schema.properties._extracted_by).toEqual({ type: 'string' });
    expect(Object.keys(schema.properties)).toEqual(['ts', 'device', 'note', 'is_deleted', '_extracted_by']);
    // one statement per chunk, each with the predicate: the chunk reader did the reading
    const reads = chunkReads(r.stderr, 'public-readings');
    expect(reads).toHaveLength(chunks);
    for (const line of reads) expect(line).toContain('("is_deleted" IS NOT TRUE)');
    expect(singerProblems(r.stdout)).toEqual([]);
  });

  it('resumes at the chunk it was in after kill -9, with the filter still applied', async () => {
    const cat = tmpJson(catalog);
    let states = 0;
    const first = await runTapUntilKilled(
      ['--config', config, '--catalog', cat],
      (m) => m.type === 'STATE' && m.value.bookmarks['public-readings']?.chunks?.done_before !== undefined && ++states === 3,
    );
    expect(first.killed).toBe(true);
    const state = lastState(first.messages)!;
    const second = await run(['--config', config, '--catalog', cat, '--state', tmpJson(state)], { TAP_LOG_LEVEL: 'debug' });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('(resuming)');
    const before = records(first.messages).map((x) => x.note);
    const after = records(second.messages).map((x) => x.note);
    expect([...new Set([...before, ...after])].sort()).toEqual(kept);
    // the resumed run skipped the chunks the killed one had finished
    expect(chunkReads(second.stderr, 'public-readings').length).toBeLessThan(chunks);
    expect(before.length + after.length - kept.length).toBeLessThanOrEqual(24); // at most one chunk again
  }, 120_000);
});

describe('a soft-delete filter on a plain table', () => {
  let db: TestDatabase;
  let catalog: Catalog;
  let kept: number[];

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE orders (id int PRIMARY KEY, item text, is_deleted boolean);
                  INSERT INTO orders SELECT g, 'item ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 4 = 0 END FROM generate_series(1, 300) g;
                  CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'a'), (2, 'b');`);
    kept = (await db.sql<{ id: number }>(`SELECT id FROM orders WHERE is_deleted IS NOT TRUE ORDER BY id`)).map((r) => r.id);
    catalog = select(await discover(tmpJson({ url: db.url })), { 'public-orders': {}, 'public-notes': {} });
  }, 120_000);
  afterAll(async () => db?.close());

  it('wraps the default reader with the defaults of its options schema, and leaves streams without the column alone', async () => {
    // no options at all: the factory gets the schema's defaults (column is_deleted, _extracted_by)
    const r = await run(['--config', tmpJson({ url: db.url, plugins: [PLUGIN] }), '--catalog', tmpJson(catalog)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('public-orders: FULL_TABLE with reader soft-delete-filter(copy-table)');
    expect(r.stderr).toContain('public-notes: FULL_TABLE with reader copy-table');
    const orders = records(r.messages, 'public-orders');
    expect(orders.map((o) => o.id)).toEqual(kept);
    expect(orders[0]).toEqual({ id: 1, item: 'item 1', is_deleted: false, _extracted_by: await currentUser(db) });
    expect(records(r.messages, 'public-notes')).toEqual([
      { id: 1, body: 'a' },
      { id: 2, body: 'b' },
    ]);
    expect(singerProblems(r.stdout)).toEqual([]);
  });

  it('takes its options (another column name, no computed column) from --plugin-options', async () => {
    await db.sql(`ALTER TABLE notes ADD COLUMN hidden boolean; UPDATE notes SET hidden = (id = 2)`);
    const cat = select(await discover(tmpJson({ url: db.url })), { 'public-notes': {} });
    const r = await run([
      '--config',
      tmpJson({ url: db.url }),
      '--catalog',
      tmpJson(cat),
      '--plugin',
      PLUGIN.module,
      '--plugin-options',
      `${PLUGIN.module}={"column":"hidden","extracted_by_column":""}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(records(r.messages)).toEqual([{ id: 1, body: 'a', hidden: false }]);
  });

  it('chains wrappers in load order around the chosen reader', async () => {
    const second = join(pluginDir, 'second-wrapper.mjs'); // next to its node_modules/tap-timescaledb
    writeFileSync(
      second,
      `import { withShape } from 'tap-timescaledb';
      export default { name: 'small-ids', register(_c, ctx) {
        ctx.readers.wrap((plan) => plan.tapStreamId === 'public-orders', withShape('small-ids', { where: ['id <= 10'], columns: [{ name: 'twice', sql: 'id * 2', kind: 'integer', schema: { type: 'integer' } }] }));
      } };\n`,
    );
    const r = await run([
      '--config',
      tmpJson({ url: db.url, plugins: [PLUGIN, { module: second }] }),
      '--catalog',
      tmpJson(select(catalog, { 'public-orders': {} })),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('with reader small-ids(soft-delete-filter(copy-table))');
    const got = records(r.messages);
    expect(got.map((o) => o.id)).toEqual(kept.filter((id) => id <= 10));
    expect(got.every((o) => o.twice === o.id * 2 && typeof o._extracted_by === 'string')).toBe(true);
    expect(r.messages.find((m) => m.type === 'SCHEMA')!.schema.properties.twice).toEqual({ type: 'integer' });
  });

  it('lets a read wrapper see the inner reader’s batches and stop the sync, named after its plugin', async () => {
    const stopper = join(pluginDir, 'stop-after-first-batch.mjs');
    writeFileSync(
      stopper,
      `import { withReadHook, StopSyncError } from 'tap-timescaledb';
      export default { name: 'first-batch-only', register(_c, ctx) {
        ctx.readers.wrap(() => true, withReadHook('first-batch-only', async function* (_ctx, batches) {
          for await (const batch of batches) { yield batch; if (batch.rows > 0) throw new StopSyncError('one batch is enough'); }
        }));
      } };\n`,
    );
    const cfg = tmpJson({ url: db.url, state_every_n_rows: 50, plugins: [PLUGIN, { module: stopper }] });
    const r = await run(['--config', cfg, '--catalog', tmpJson(select(catalog, { 'public-orders': {} }))]);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain('with reader first-batch-only(soft-delete-filter(copy-table))');
    expect(records(r.messages).map((o) => o.id)).toEqual(kept.slice(0, 50));
    expect(lastState(r.messages)!.bookmarks['public-orders'].last_pk_fetched).toEqual({ id: kept[49] });
    expect(r.stderr).toMatch(/^CRITICAL plugin first-batch-only stopped the sync during public-orders: one batch is enough /m);
  });
});
