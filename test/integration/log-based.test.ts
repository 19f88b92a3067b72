import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, streamEntry, tmpJson } from '../helpers/run-tap.js';
import { change, dropSlots, logBasedTap, withKeys } from '../helpers/log-based.js';
import { singerProblems } from '../helpers/singer-rules.js';
import { streamMetadata } from '../../src/core/singer/catalog.js';

/**
 * LOG_BASED on plain PostgreSQL (the native cluster runs wal_level = logical): an initial copy in the
 * slot's exported snapshot, then every insert, update and delete between runs exactly once, in commit
 * order, on a table and on a partitioned table; the slot confirmed only up to the state given; faults.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED on native PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, tags int[], price money);
      INSERT INTO items SELECT g, 'item ' || g, ARRAY[g, g + 1], g FROM generate_series(1, 50) g;
      CREATE TABLE events (id int, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      INSERT INTO events SELECT g, '2024-06-01'::date + g, 'e' || g FROM generate_series(1, 20) g;
      CREATE TABLE nokey (n int, t text);
      CREATE VIEW item_names AS SELECT id, name FROM items;`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('discovery lists LOG_BASED for tables when wal_level is logical', async () => {
    const catalog = await discover(tmpJson({ url: db.url, sslmode: 'disable' }));
    expect(streamMetadata(streamEntry(catalog, 'public-items'))['valid-replication-methods']).toEqual([
      'FULL_TABLE',
      'INCREMENTAL',
      'LOG_BASED',
    ]);
    expect(streamMetadata(streamEntry(catalog, 'public-events'))['valid-replication-methods']).toContain('LOG_BASED');
  });

  it('copies, then emits each change between runs once, in commit order; the same state again emits the same changes; the next state nothing', async () => {
    const tap = await logBasedTap(db, ['public-items', 'public-events']);
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(singerProblems(first.stdout)).toEqual([]);
    expect(first.recs.filter((r) => 'name' in r)).toHaveLength(50);
    expect(first.recs.filter((r) => 'v' in r)).toHaveLength(20);
    const schema = first.messages.find((m) => m.type === 'SCHEMA' && m.stream === 'public-items')!;
    expect(schema.schema.properties._sdc_lsn).toEqual({ type: ['integer', 'null'] });
    expect(schema.schema.properties._sdc_deleted_at).toEqual({ type: ['string', 'null'], format: 'date-time' });
    // a delete carries only the key: the other columns must be nullable
    expect(schema.schema.properties.name.type).toEqual(['string', 'null']);
    const lsn = first.state!.bookmarks['public-items'].lsn as number;
    expect(first.recs.every((r) => r._sdc_lsn === lsn || r._sdc_lsn === first.state!.bookmarks['public-events'].lsn)).toBe(true);

    await db.sql(`
      INSERT INTO items VALUES (51, 'new', '{1}', 5);
      UPDATE items SET name = 'renamed' WHERE id = 2;
      BEGIN; DELETE FROM items WHERE id = 3; UPDATE items SET tags = '{}' WHERE id = 4; INSERT INTO items VALUES (52, 'tx', NULL, NULL); COMMIT;
      UPDATE items SET name = 'renamed again' WHERE id = 2;
      INSERT INTO events VALUES (100, '2025-03-01', 'new partition row');
      UPDATE events SET v = 'moved' WHERE id = 1;
      UPDATE events SET at = '2025-02-01' WHERE id = 2;
      DELETE FROM events WHERE id = 5;`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(singerProblems(second.stdout)).toEqual([]);
    const items = second.messages.filter((m) => m.type === 'RECORD' && m.stream === 'public-items').map((m) => change(m.record));
    expect(items).toEqual([
      { id: 51, name: 'new', tags: [1], price: 5, deleted: false },
      { id: 2, name: 'renamed', tags: [2, 3], price: 2, deleted: false },
      { id: 3, name: null, tags: null, price: null, deleted: true },
      { id: 4, name: 'item 4', tags: [], price: 4, deleted: false },
      { id: 52, name: 'tx', tags: null, price: null, deleted: false },
      { id: 2, name: 'renamed again', tags: [2, 3], price: 2, deleted: false },
    ]);
    const lsns = second.recs.filter((r) => 'name' in r).map((r) => r._sdc_lsn as number);
    expect(lsns).toEqual([...lsns].sort((a, b) => a - b));
    expect(second.recs.find((r) => r.id === 3)!._sdc_deleted_at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    // partitions are the partitioned table's stream; a row moved between partitions is a delete and an insert
    const events = second.messages.filter((m) => m.type === 'RECORD' && m.stream === 'public-events').map((m) => change(m.record));
    expect(events).toEqual([
      { id: 100, at: '2025-03-01', v: 'new partition row', deleted: false },
      { id: 1, at: '2024-06-02', v: 'moved', deleted: false },
      { id: 2, at: '2024-06-03', v: null, deleted: true },
      { id: 2, at: '2025-02-01', v: 'e2', deleted: false },
      { id: 5, at: '2024-06-06', v: null, deleted: true },
    ]);

    // the target failed after the tap: the same state gives the same changes (the slot kept them)
    const replay = await tap.run(first.state);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.recs.map(change)).toEqual(second.recs.map(change));
    // the target has the second run: nothing new
    const third = await tap.run(second.state);
    expect(third.code, third.stderr).toBe(0);
    expect(third.recs).toEqual([]);
    // and the slot was confirmed up to what that state says, no further
    const [slot] = await db.sql(`SELECT (confirmed_flush_lsn - '0/0')::bigint AS c FROM pg_replication_slots WHERE slot_name = $1`, [
      slotName(db),
    ]);
    expect(Number(slot!.c)).toBe(
      second.state!.bookmarks['public-items'].lsn < second.state!.bookmarks['public-events'].lsn
        ? second.state!.bookmarks['public-items'].lsn
        : second.state!.bookmarks['public-events'].lsn,
    );

    // a bookmark older than what the slot was confirmed: the changes between are gone
    const stale = await tap.run(first.state);
    expect(stale.code).toBe(4);
    expect(stale.stderr).toMatch(/CRITICAL .*older than replication slot .*confirmed_flush_lsn/);
  });

  it('a table without key properties: exit 2 before any output, naming the ways to an exact target; with declared keys and REPLICA IDENTITY FULL, deletes are keyed', async () => {
    const tap = await logBasedTap(db, ['public-nokey']);
    const run = await tap.run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /CRITICAL public-nokey has no key properties, so a target could only append its changes .*table-key-properties .*ALTER TABLE "public"."nokey" REPLICA IDENTITY FULL/,
    );
    // REPLICA IDENTITY FULL alone gives no key a target could apply changes by: still refused
    await db.sql("ALTER TABLE nokey REPLICA IDENTITY FULL; INSERT INTO nokey VALUES (1, 'a')");
    expect((await tap.run()).code).toBe(2);
    // a key declared in the catalog but outside the replica identity: refused, since deletes would not carry it
    await db.sql('ALTER TABLE nokey REPLICA IDENTITY DEFAULT');
    const outside = await (await logBasedTap(db, ['public-nokey'], {}, withKeys('public-nokey', ['n']))).run();
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(
      /CRITICAL public-nokey: nokey has no primary key, so its deletes and key changes carry no value for key property n/,
    );
    await db.sql('ALTER TABLE nokey REPLICA IDENTITY FULL');
    const keyed = await logBasedTap(db, ['public-nokey'], {}, withKeys('public-nokey', ['n']));
    const ok = await keyed.run();
    expect(ok.code, ok.stderr).toBe(0);
    await db.sql(`DELETE FROM nokey WHERE n = 1`);
    const next = await keyed.run(ok.state);
    expect(next.recs.map(change)).toEqual([{ n: 1, t: 'a', deleted: true }]);
  });

  it('a TRUNCATE: the stream is copied again under a new table version, ACTIVATE_VERSION after the copy', async () => {
    await db.sql(`CREATE TABLE trunc (id int PRIMARY KEY, t text); INSERT INTO trunc SELECT g, 'r' || g FROM generate_series(1, 10) g`);
    const tap = await logBasedTap(db, ['public-trunc'], { replication_slot: 'tap_trunc' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    const v1 = first.state!.bookmarks['public-trunc'].version as number;
    // a copy starts and ends its version, as a FULL_TABLE sync does
    const activate = { type: 'ACTIVATE_VERSION', stream: 'public-trunc', version: v1 };
    expect(first.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toEqual([activate, activate]);
    await db.sql(`INSERT INTO trunc VALUES (11, 'before'); TRUNCATE trunc; INSERT INTO trunc VALUES (12, 'after')`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/WARN public-trunc: public.trunc was truncated at .*copied again under a new table version/);
    const v2 = second.state!.bookmarks['public-trunc'].version as number;
    expect(v2).toBeGreaterThan(v1);
    // the copy's records, then ACTIVATE_VERSION, then the STATE with the new position: a target drops rows 1-11
    const kinds = second.messages.filter((m) => m.stream === 'public-trunc' || m.type === 'STATE').map((m) => m.type);
    expect(kinds.slice(kinds.lastIndexOf('ACTIVATE_VERSION') - 2)).toEqual([
      'ACTIVATE_VERSION',
      'RECORD',
      'ACTIVATE_VERSION',
      'STATE',
      'STATE',
    ]);
    expect(second.recs.map(change)).toEqual([{ id: 12, t: 'after', deleted: false }]);
    expect(records(second.messages).every((r) => r.id === 12)).toBe(true);
    expect(second.messages.find((m) => m.type === 'RECORD')!.version).toBe(v2);
    const third = await tap.run(second.state);
    expect(third.recs).toEqual([]);
  });

  it('a view: exit 2, views have no changes to decode', async () => {
    const run = await (await logBasedTap(db, ['public-item_names'])).run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/CRITICAL public-item_names is a view: logical decoding has no changes for views/);
  });

  it('a role that may not create the publication: exit 2 with the SQL a DBA runs', async () => {
    const role = `tap_ro_${Date.now().toString(36)}`;
    await db.sql(`CREATE ROLE ${role} LOGIN REPLICATION; GRANT SELECT ON items TO ${role}`);
    try {
      const url = new URL(db.url);
      url.username = role;
      const tap = await logBasedTap({ ...db, url: url.toString() }, ['public-items'], { publication: 'tap_ro_pub' });
      const run = await tap.run();
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /CRITICAL publication tap_ro_pub does not cover public-items and the tap's role may not change it: have a DBA run CREATE PUBLICATION "tap_ro_pub" FOR TABLE "public"."items"/,
      );
    } finally {
      await db.sql(`REVOKE ALL ON items FROM ${role}; DROP ROLE ${role}`);
    }
  });

  it('a dropped slot or an lsn that is not one: exit with the reason and the fix', async () => {
    const tap = await logBasedTap(db, ['public-items'], { replication_slot: 'tap_drop_me' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    await db.sql(`SELECT pg_drop_replication_slot('tap_drop_me')`);
    const gone = await tap.run(first.state);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(
      /CRITICAL replication slot tap_drop_me does not exist \(dropped\?\).*Remove the lsn bookmark of public-items/,
    );
    const bad = await tap.run({ bookmarks: { 'public-items': { lsn: 'yesterday' } } });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/CRITICAL the state's bookmark for public-items has "yesterday" is not a WAL position/);
  });
});

describe('LOG_BASED on a server without wal_level = logical (the embedded engine: replica)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await embeddedDatabase();
    await db.sql('CREATE TABLE items (id int PRIMARY KEY, name text)');
  });
  afterAll(async () => db?.close());

  it('discovery does not offer LOG_BASED, and a LOG_BASED stream stops the tap with exit 2 and the fix', async () => {
    const config = tmpJson({ url: db.url });
    const catalog = await discover(config);
    expect(streamMetadata(streamEntry(catalog, 'public-items'))['valid-replication-methods']).toEqual(['FULL_TABLE', 'INCREMENTAL']);
    const tap = await logBasedTap(db, ['public-items']);
    const run = await tap.run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /CRITICAL LOG_BASED needs wal_level = logical, and the server has replica: run ALTER SYSTEM SET wal_level = logical and restart/,
    );
  });
});

function slotName(db: TestDatabase): string {
  return `tap_timescaledb_${new URL(db.url).pathname.slice(1)}`;
}
