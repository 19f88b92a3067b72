import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeDatabase, nativeSkipReason, serverEngine, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import { streamMetadata, type Catalog, type CatalogEntry } from '../../src/core/singer/catalog.js';

/**
 * Schemas, tables and columns whose names are SQL waiting to happen. Every name reaches the server
 * through quoteIdent and every bookmark value through quoteLiteral, or the canary table `y` is gone.
 */
const SCHEMA = 'Sch "ema".with dots ü';
const TABLE = 'x"; DROP TABLE y; --';
const HYPER = 'Hyper "table". SELECT';
const COLS = {
  pk: 'x"; DROP TABLE y; --',
  key: 'select',
  text: "a'b\\c'); DROP TABLE y; --",
  space: 'with space.and.dots',
  upper: 'ÜNÏ Upper 😀',
  newline: 'new\nline\ttab',
} as const;
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;
// a value that is also an injection attempt, as the text bookmark of an INCREMENTAL run
const EVIL_VALUE = "zz'); DROP TABLE y; --";

async function createHostile(db: TestDatabase, table: string, hypertable: boolean): Promise<void> {
  const rel = `${q(SCHEMA)}.${q(table)}`;
  await db.sql(`
    CREATE TABLE IF NOT EXISTS y (canary int);
    CREATE SCHEMA IF NOT EXISTS ${q(SCHEMA)};
    CREATE TABLE ${rel} (${q(COLS.pk)} int NOT NULL, ${q(COLS.key)} timestamptz NOT NULL, ${q(COLS.text)} text,
      ${q(COLS.space)} int, ${q(COLS.upper)} text, ${q(COLS.newline)} boolean${hypertable ? '' : `, PRIMARY KEY (${q(COLS.pk)})`});
    ${hypertable ? `SELECT create_hypertable(${lit(rel)}::regclass, by_range(${lit(COLS.key)}, interval '1 day'));` : ''}
    INSERT INTO ${rel} SELECT g, '2024-01-01'::timestamptz + g * interval '3 hours', CASE WHEN g = 30 THEN ${lit(EVIL_VALUE)} ELSE 'v' || lpad(g::text, 2, '0') END,
      g * 10, 'ü' || g, g % 2 = 0 FROM generate_series(1, 30) g;`);
}

/** The rows as the tap must write them, from the fixture's own formula. */
function expectedRows(): Record<string, unknown>[] {
  return Array.from({ length: 30 }, (_, i) => {
    const g = i + 1;
    return {
      [COLS.pk]: g,
      [COLS.key]: new Date(Date.parse('2024-01-01T00:00:00Z') + g * 3 * 3600_000).toISOString().replace('.000Z', 'Z'),
      [COLS.text]: g === 30 ? EVIL_VALUE : `v${String(g).padStart(2, '0')}`,
      [COLS.space]: g * 10,
      [COLS.upper]: `ü${g}`,
      [COLS.newline]: g % 2 === 0,
    };
  });
}

function entryFor(catalog: Catalog, table: string): CatalogEntry {
  const e = catalog.streams.find((s) => s.table_name === table && streamMetadata(s)['schema-name'] === SCHEMA);
  if (!e) throw new Error(`no stream for ${table}: ${catalog.streams.map((s) => s.tap_stream_id).join(', ')}`);
  return e;
}

function hostileSuite(engine: string, open: () => Promise<TestDatabase>, table: string, hypertable: boolean): void {
  describe(`hostile identifiers on the ${engine} engine${hypertable ? ' (hypertable)' : ''}`, () => {
    let db: TestDatabase;
    let config: string;
    let catalog: Catalog;
    let id: string;
    beforeAll(async () => {
      db = await open();
      await createHostile(db, table, hypertable);
      config = tmpJson({ url: db.url, state_every_n_rows: 7 });
      catalog = await discover(config);
      id = entryFor(catalog, table).tap_stream_id;
    });
    afterAll(async () => db?.close());

    const canaryAlive = async () => expect(await db.sql(`SELECT to_regclass('public.y') IS NOT NULL AS alive`)).toEqual([{ alive: true }]);

    it('discovers the schema, table and every column under its own name', async () => {
      const entry = entryFor(catalog, table);
      expect(Object.keys(entry.schema.properties)).toEqual(Object.values(COLS));
      expect(streamMetadata(entry)['valid-replication-keys']).toContain(COLS.key);
      if (!hypertable) expect(entry.key_properties).toEqual([COLS.pk]);
      await canaryAlive();
    });

    it('syncs FULL_TABLE with every value intact and nothing executed', async () => {
      const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { [id]: {} }))]);
      expect(run.code, run.stderr).toBe(0);
      if (hypertable) expect(run.stderr).toContain(`${id}: FULL_TABLE with reader timescaledb-chunks`);
      expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
      const recs = records(run.messages, id).sort((a, b) => a[COLS.pk] - b[COLS.pk]);
      expect(recs).toEqual(expectedRows());
      await canaryAlive();
    });

    it('INCREMENTAL on a keyword-named key and on a text key holding an injection, resumed from its state', async () => {
      for (const key of [COLS.key, COLS.text]) {
        const cat = tmpJson(select(catalog, { [id]: { method: 'INCREMENTAL', key } }));
        const first = await runTap(['--config', config, '--catalog', cat]);
        expect(first.code, first.stderr).toBe(0);
        const state = lastState(first.messages)!;
        const max = key === COLS.key ? '2024-01-04T18:00:00Z' : EVIL_VALUE;
        expect(state.bookmarks[id].replication_key_value).toBe(max);
        const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
        expect(second.code, second.stderr).toBe(0);
        expect(singerProblems(second.stdout, { complete: true })).toEqual([]);
        // >= the bookmark: the last row again, nothing else
        expect(records(second.messages, id).map((r) => r[COLS.pk])).toEqual([30]);
      }
      await canaryAlive();
    });

    if (!hypertable) {
      it('FULL_TABLE resumes after a last_pk_fetched on the hostile key column', async () => {
        const cat = tmpJson(select(catalog, { [id]: {} }));
        const state = { bookmarks: { [id]: { version: 1, last_pk_fetched: { [COLS.pk]: 20 } } }, currently_syncing: id };
        const run = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
        expect(run.code, run.stderr).toBe(0);
        expect(records(run.messages, id).map((r) => r[COLS.pk])).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
        await canaryAlive();
      });
    }
  });
}

describe.skipIf(nativeSkipReason !== undefined)('native PostgreSQL', () => hostileSuite('native', nativeDatabase, TABLE, false));
describe.skipIf(serverEngine.skip !== undefined)(serverEngine.label, () =>
  hostileSuite(serverEngine.label, () => serverEngine.open(), HYPER, true),
);
describe('embedded TimescaleDB', () => {
  // one engine for both: the embedded engine is slow to start and takes one connection at a time
  let shared: Promise<TestDatabase> | undefined;
  const once = () => (shared ??= embeddedDatabase());
  const noClose = async () => ({ ...(await once()), close: async () => undefined });
  hostileSuite('embedded TimescaleDB', noClose, TABLE, false);
  hostileSuite('embedded TimescaleDB', noClose, HYPER, true);
  afterAll(async () => (await shared)?.close());
});

/** `schema-table` ids collide when names hold dashes; two streams must never share a bookmark. */
describe.skipIf(nativeSkipReason !== undefined)('names whose schema-table ids collide (native PostgreSQL)', () => {
  let db: TestDatabase;
  let config: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE SCHEMA "a-b"; CREATE SCHEMA a; CREATE SCHEMA plain;
      CREATE TABLE "a-b".c (id int PRIMARY KEY, at int NOT NULL); INSERT INTO "a-b".c SELECT g, g FROM generate_series(1, 10) g;
      CREATE TABLE a."b-c" (id int PRIMARY KEY, at int NOT NULL); INSERT INTO a."b-c" SELECT g, g * 100 FROM generate_series(1, 10) g;
      CREATE TABLE plain.t (id int PRIMARY KEY);`);
    config = tmpJson({ url: db.url, filter_schemas: ['a', 'a-b', 'plain'] });
  });
  afterAll(async () => db?.close());

  it('discovery gives each its own id (the quoted name), INCREMENTAL keeps a bookmark each, other ids stay schema-table', async () => {
    const catalog = await discover(config);
    expect(catalog.streams.map((s) => s.tap_stream_id).sort()).toEqual(['"a"."b-c"', '"a-b"."c"', 'plain-t']);
    const cat = tmpJson(
      select(catalog, { '"a"."b-c"': { method: 'INCREMENTAL', key: 'at' }, '"a-b"."c"': { method: 'INCREMENTAL', key: 'at' } }),
    );
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(singerProblems(first.stdout, { complete: true })).toEqual([]);
    expect(records(first.messages, '"a-b"."c"').map((r) => r.at)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const state = lastState(first.messages)!;
    expect(state.bookmarks['"a-b"."c"'].replication_key_value).toBe(10);
    expect(state.bookmarks['"a"."b-c"'].replication_key_value).toBe(1000);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(records(second.messages).map((r) => r.at)).toEqual(expect.arrayContaining([10, 1000]));
    expect(records(second.messages)).toHaveLength(2);
  });

  it('a catalog that selects two streams under one id fails before any message (exit 3), naming the id and the fix', async () => {
    const catalog = await discover(config);
    for (const s of catalog.streams) if (s.table_name !== 't') s.tap_stream_id = s.stream = 'a-b-c';
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'a-b-c': {} }))]);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(
      /CRITICAL the catalog selects several streams with the tap_stream_id a-b-c; give each its own tap_stream_id/,
    );
    expect(run.stdout).toBe('');
  });
});
