import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const MID_SYNC_PLUGIN = resolve(__dirname, '../fixtures/mid-sync-plugin.mjs');

/** A table partitioned by month (January to June 2024), 3,000 rows; `id` orders them in time. */
async function createMonthly(db: TestDatabase, name: string): Promise<void> {
  await db.sql(`CREATE TABLE ${name} (id int NOT NULL, at timestamptz NOT NULL, payload text NOT NULL) PARTITION BY RANGE (at)`);
  for (let m = 1; m <= 6; m++) {
    await db.sql(`CREATE TABLE ${name}_m${m} PARTITION OF ${name} FOR VALUES FROM ('2024-0${m}-01') TO ('2024-0${m + 1}-01')`);
  }
  await db.sql(`INSERT INTO ${name} SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour', 'p' || g FROM generate_series(0, 2999) g`);
}

/** Writes during the sync, after the first partition: a new row in June, an update in May, a delete in April. */
const writes = (t: string) => `INSERT INTO ${t} VALUES (9001, '2024-06-20 00:00+00', 'inserted-during-sync');
  UPDATE ${t} SET payload = 'updated-during-sync' WHERE id = 2900;
  DELETE FROM ${t} WHERE id = 2200`;

const rowsOf = (messages: Record<string, any>[]) =>
  records(messages)
    .map((r) => `${r.id}:${r.payload}`)
    .sort();

describe.skipIf(!!nativeSkipReason)(
  'consistent_snapshot: every chunk of a sync reads one exported snapshot (native partitioned tables)',
  () => {
    let db: TestDatabase;
    let catalog: Catalog;
    let before: string[];

    beforeAll(async () => {
      db = await nativeDatabase();
      for (const t of ['ev_live', 'ev_snap', 'ev_snap_par']) await createMonthly(db, t);
      before = (await db.sql<{ r: string }>(`SELECT id || ':' || payload AS r FROM ev_live`)).map((x) => x.r).sort();
      catalog = await discover(tmpJson({ url: db.url }));
    });
    afterAll(async () => db?.close());

    const sync = (table: string, settings: Record<string, unknown>) =>
      runTap([
        '--config',
        tmpJson({
          url: db.url,
          ...settings,
          plugins: [{ module: MID_SYNC_PLUGIN, options: { stream: `public-${table}`, afterPartitions: 1, sql: writes(table) } }],
        }),
        '--catalog',
        tmpJson(select(catalog, { [`public-${table}`]: {} })),
      ]);

    it('without it, each partition is read as it is when its turn comes: the writes made during the sync are seen', async () => {
      const run = await sync('ev_live', {});
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('mid-sync plugin ran its SQL after 1 partitions');
      const got = rowsOf(run.messages);
      expect(got).toContain('9001:inserted-during-sync');
      expect(got).toContain('2900:updated-during-sync');
      expect(got).not.toContain('2200:p2200');
    });

    it('with it, no write made after the export is seen, in any partition', async () => {
      const run = await sync('ev_snap', { consistent_snapshot: true });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/INFO consistent_snapshot: every chunk of this sync reads snapshot \S+ \(the database as of /);
      expect(run.stderr).toContain('mid-sync plugin ran its SQL after 1 partitions');
      expect(rowsOf(run.messages)).toEqual(before);
      // the writes did happen: the table now differs from what the sync emitted
      const [now] = await db.sql(
        `SELECT count(*) FILTER (WHERE id = 9001)::int AS inserted, count(*) FILTER (WHERE id = 2200)::int AS deleted FROM ev_snap`,
      );
      expect(now).toEqual({ inserted: 1, deleted: 0 });
    });

    it('with it and 3 partitions read at once, every reader sees the same snapshot', async () => {
      const run = await sync('ev_snap_par', { consistent_snapshot: true, max_concurrent_chunks: 3 });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('reading up to 3 chunks at once');
      expect(run.stderr.match(/consistent_snapshot: every chunk of this sync reads snapshot/g)).toHaveLength(1);
      expect(rowsOf(run.messages)).toEqual(before);
    });
  },
);
