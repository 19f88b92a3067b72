import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import { createTypesTable } from '../helpers/type-fixtures.js';
import { createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const ROWS = 1200;
const ids = (recs: Record<string, any>[]) => recs.map((r) => r.id as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * FULL_TABLE and INCREMENTAL across runs, a FULL_TABLE resumed after a crash, and a mixed sync, all
 * checked against the Singer rules (test/helpers/singer-rules.ts) on top of the rows themselves.
 */
function replicationSuite(engine: string, open: () => Promise<TestDatabase>, hypertable = false): void {
  describe(`state across runs on the ${engine} engine`, () => {
    let db: TestDatabase;
    let config: string;
    let catalog: Catalog;
    beforeAll(async () => {
      db = await open();
      await db.sql(`
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
        INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g;
        CREATE TABLE events (id int PRIMARY KEY, at timestamptz, v text);
        INSERT INTO events SELECT g, CASE WHEN g % 100 = 0 THEN NULL ELSE '2024-01-01'::timestamptz + (g / 3) * interval '1 second' END, 'e' || g
          FROM generate_series(1, ${ROWS}) g;
        CREATE TABLE nokey (n int, t text);
        INSERT INTO nokey SELECT g, repeat('x', g % 7) FROM generate_series(1, 50) g;
        CREATE TABLE sentinels (id int PRIMARY KEY, valid_until timestamptz, score numeric);
        INSERT INTO sentinels SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', g FROM generate_series(1, 250) g;
        -- the last batch (state_every_n_rows 100) holds finite keys, then these
        INSERT INTO sentinels VALUES (251, 'infinity', 'NaN'), (252, 'infinity', 'Infinity');
        CREATE VIEW item_names AS SELECT id, upper(name) AS name FROM items WHERE id <= 10;`);
      await createTypesTable(db, 'types_rt');
      if (hypertable) await createMetricsHypertable(db, 'metrics', 3);
      config = tmpJson({ url: db.url, state_every_n_rows: 100 });
      catalog = await discover(config);
    });
    afterAll(async () => db?.close());

    it('a mixed sync (FULL_TABLE with and without a key, INCREMENTAL with NULL and shared keys, a view, every type, a hypertable on TimescaleDB) keeps every Singer rule', async () => {
      const cat = select(catalog, {
        'public-items': {},
        'public-events': { method: 'INCREMENTAL', key: 'at' },
        'public-nokey': {},
        'public-item_names': {},
        'public-types_rt': {},
        ...(hypertable ? { 'public-metrics': { method: 'INCREMENTAL', key: 'ts' } as const } : {}),
      });
      const run = await runTap(['--config', config, '--catalog', tmpJson(cat)]);
      expect(run.code, run.stderr).toBe(0);
      expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
      expect(ids(records(run.messages, 'public-items'))).toEqual(range(1, ROWS));
      const events = records(run.messages, 'public-events');
      expect(events).toHaveLength(ROWS);
      // NULL keys first (first run only), then in key order
      expect(events.slice(0, ROWS / 100).every((r) => r.at === null)).toBe(true);
      expect(records(run.messages, 'public-nokey')).toHaveLength(50);
      expect(
        records(run.messages, 'public-item_names')
          .map((r) => r.name)
          .sort(),
      ).toEqual(
        range(1, 10)
          .map((i) => `ITEM ${i}`)
          .sort(),
      );
      expect(records(run.messages, 'public-types_rt')).toHaveLength(3);
      if (hypertable)
        expect(
          records(run.messages, 'public-metrics')
            .map((r) => r.note)
            .sort(),
        ).toEqual(await sourceNotes(db, 'metrics'));
      expect(lastState(run.messages)!.currently_syncing).toBeNull();
    });

    it('FULL_TABLE twice: each run a new version with every row, ACTIVATE_VERSION around it', async () => {
      const cat = tmpJson(select(catalog, { 'public-items': {} }));
      const first = await runTap(['--config', config, '--catalog', cat]);
      expect(first.code, first.stderr).toBe(0);
      await db.sql(`DELETE FROM items WHERE id = 7; INSERT INTO items VALUES (${ROWS + 1}, 'late')`);
      const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
      expect(second.code, second.stderr).toBe(0);
      expect(singerProblems(second.stdout, { complete: true })).toEqual([]);
      const versions = (run: typeof first) => run.messages.filter((m) => m.type === 'ACTIVATE_VERSION').map((m) => m.version);
      const [v1] = versions(first);
      expect(versions(first)).toEqual([v1, v1]);
      const [v2] = versions(second);
      expect(versions(second)).toEqual([v2, v2]);
      expect(v2).toBeGreaterThan(v1);
      expect(ids(records(second.messages))).toEqual([...range(1, 6), ...range(8, ROWS + 1)]);
      await db.sql(`INSERT INTO items VALUES (7, 'item 7'); DELETE FROM items WHERE id = ${ROWS + 1}`);
    });

    it('INCREMENTAL twice: the second run reads rows at or after the bookmark only (updates and inserts), never the NULL keys again', async () => {
      const cat = tmpJson(select(catalog, { 'public-events': { method: 'INCREMENTAL', key: 'at' } }));
      const first = await runTap(['--config', config, '--catalog', cat]);
      expect(first.code, first.stderr).toBe(0);
      const state = lastState(first.messages)!;
      const [max] = await db.sql(`SELECT to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS m FROM events`);
      expect(state.bookmarks['public-events']).toMatchObject({ replication_key: 'at', replication_key_value: max!.m });
      await db.sql(`UPDATE events SET at = '2025-01-01', v = 'updated' WHERE id = 5;
                    INSERT INTO events VALUES (${ROWS + 1}, '2025-01-02', 'new'), (${ROWS + 2}, NULL, 'null key');`);
      const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
      expect(second.code, second.stderr).toBe(0);
      expect(singerProblems(second.stdout, { complete: true })).toEqual([]);
      const [atMax] = await db.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM events WHERE id <= ${ROWS} AND at = (SELECT max(at) FROM events WHERE id <= ${ROWS} AND id <> 5)`,
      );
      // the rows sharing the old bookmark value (>=: at least once), then the update, then the insert
      const got = records(second.messages);
      expect(got).toHaveLength(atMax!.n + 2);
      expect(got.slice(-2).map((r) => [r.id, r.v])).toEqual([
        [5, 'updated'],
        [ROWS + 1, 'new'],
      ]);
      expect(lastState(second.messages)!.bookmarks['public-events'].replication_key_value).toBe('2025-01-02T00:00:00Z');
      await db.sql(`DELETE FROM events WHERE id > ${ROWS}`);
    });

    it('INCREMENTAL on keys whose largest values are infinity or NaN: the bookmark stops at the last finite key, not at the start', async () => {
      for (const [key, last] of [
        ['valid_until', '2024-01-01T04:10:00Z'],
        ['score', 250],
      ] as const) {
        const cat = tmpJson(select(catalog, { 'public-sentinels': { method: 'INCREMENTAL', key } }));
        const first = await runTap(['--config', config, '--catalog', cat]);
        expect(first.code, first.stderr).toBe(0);
        expect(singerProblems(first.stdout, { complete: true })).toEqual([]);
        const state = lastState(first.messages)!;
        expect(state.bookmarks['public-sentinels'].replication_key_value).toBe(last);
        const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
        expect(second.code, second.stderr).toBe(0);
        // the row at the bookmark and the ones past any finite value (at least once), not the 250 before
        expect(ids(records(second.messages)).sort()).toEqual([250, 251, 252]);
      }
    });

    it('FULL_TABLE killed after a STATE resumes after last_pk_fetched: the same version, no row missing, only rows after the bookmark', async () => {
      const cat = tmpJson(select(catalog, { 'public-items': {} }));
      const killed = await runTapUntilKilled(
        ['--config', config, '--catalog', cat],
        (m) => m.type === 'STATE' && (m.value.bookmarks['public-items']?.last_pk_fetched?.id ?? 0) >= 500,
      );
      expect(killed.killed, killed.stderr).toBe(true);
      const state = lastState(killed.messages)!;
      const bookmark = state.bookmarks['public-items'];
      expect(bookmark.last_pk_fetched.id).toBeGreaterThanOrEqual(500);
      expect(state.currently_syncing).toBe('public-items');
      const before = ids(records(killed.messages));
      // the bookmark is the last row written before the STATE
      expect(before.at(-1)).toBe(bookmark.last_pk_fetched.id);

      const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(singerProblems(resumed.stdout, { complete: true })).toEqual([]);
      const after = ids(records(resumed.messages));
      expect(after).toEqual(range(bookmark.last_pk_fetched.id + 1, ROWS));
      expect(new Set([...before, ...after]).size).toBe(ROWS);
      // the resumed run continues the interrupted version: no ACTIVATE_VERSION before its records, one after
      const av = resumed.messages.filter((m) => m.type === 'ACTIVATE_VERSION');
      expect(av.map((m) => m.version)).toEqual([bookmark.version]);
      expect(new Set(resumed.messages.filter((m) => m.type === 'RECORD').map((m) => m.version))).toEqual(new Set([bookmark.version]));
    });
  });
}

describe.skipIf(nativeSkipReason !== undefined)('native PostgreSQL', () => replicationSuite('native', nativeDatabase));
replicationSuite('embedded TimescaleDB', embeddedDatabase, true);
