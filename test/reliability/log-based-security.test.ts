import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { dropSlots, logBasedTap, selectLogBased } from '../helpers/log-based.js';
import { discover, runTap, tmpJson } from '../helpers/run-tap.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';
import { resolve } from 'node:path';

const STOP_PLUGIN = resolve(__dirname, '../fixtures/stop-and-count-plugin.mjs');

/**
 * LOG_BASED emits nothing a SELECT by the tap's role could not return, and a hostile state cannot discard
 * the change stream: every check runs for every stream before the first message, a forged position is
 * refused before the shared slot is touched, a DBA's publication is used as it is, and a first run that
 * fails drops the slot it made.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED refusals before any output (native PostgreSQL)', () => {
  let db: TestDatabase;
  const role = `tap_sec_${Date.now().toString(36)}`;
  const as = (user: string): TestDatabase => {
    const url = new URL(db.url);
    url.username = user;
    return { ...db, url: url.toString() };
  };
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE orders (id int PRIMARY KEY, tenant int NOT NULL, note text);
      INSERT INTO orders SELECT g, g % 3, 'n' FROM generate_series(1, 30) g;
      CREATE TABLE secret (id int PRIMARY KEY, v text);
      INSERT INTO secret VALUES (1, 'hidden');
      CREATE TABLE guarded (id int PRIMARY KEY, tenant int NOT NULL);
      INSERT INTO guarded SELECT g, g % 2 FROM generate_series(1, 10) g;
      ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
      CREATE ROLE ${role} LOGIN REPLICATION;
      GRANT SELECT ON orders, guarded TO ${role};
      CREATE POLICY tenant_one ON guarded FOR SELECT TO ${role} USING (tenant = 1);`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db.sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => undefined);
    await db?.close();
  });

  it('row-level security that applies to the role: exit 2, stdout empty, naming the table and the ways out', async () => {
    const run = await (
      await logBasedTap(as(role), ['public-guarded'], { replication_slot: 'sec_rls', publication: 'tap_timescaledb' })
    ).run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /CRITICAL public-guarded: row-level security applies to the tap's role on "public"."guarded".*FULL_TABLE or INCREMENTAL.*BYPASSRLS/,
    );
  });

  it('a table the role may not read, named by a catalog made by another role: refused before any output', async () => {
    const config = tmpJson({ url: as(role).url, sslmode: 'disable', replication_slot: 'sec_noselect' });
    const catalog = tmpJson(selectLogBased(await discover(tmpJson({ url: db.url, sslmode: 'disable' })), ['public-secret']));
    const run = await runTap(['--config', config, '--catalog', catalog]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/CRITICAL .*secret/);
  });

  it('a forged or impossible lsn: exit 4 with stdout empty, and the shared slot is not moved', async () => {
    const tap = await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_lsn' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    const confirmed = async () =>
      (await db.sql(`SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = 'sec_lsn'`))[0]!.c as string;
    const before = await confirmed();
    for (const lsn of ['FFFFFFFF/FFFFFFFF', 2 ** 52, 'yesterday', -1]) {
      // another stream's forged bookmark would be the smallest confirmed to the shared slot just the same
      const run = await tap.run({ bookmarks: { 'public-orders': first.state!.bookmarks['public-orders'], 'public-other': { lsn } } });
      expect(run.code, `${String(lsn)}: ${run.stderr}`).toBe(4);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/CRITICAL the state's (lsn|bookmark) for public-other/);
      expect(await confirmed()).toBe(before);
    }
    const forged = await tap.run({
      bookmarks: { 'public-orders': { ...first.state!.bookmarks['public-orders'], lsn: 'FFFFFFFF/FFFFFFFF' } },
    });
    expect(forged.code).toBe(4);
    expect(forged.stderr).toMatch(/past the end of this server's WAL/);
    // the real state still has every change
    await db.sql(`UPDATE orders SET note = 'after' WHERE id = 1`);
    const next = await tap.run(first.state);
    expect(next.code, next.stderr).toBe(0);
    expect(next.recs.map((r) => [r.id, r.note])).toEqual([[1, 'after']]);
  });

  it('fuzzed lsn forms in a state: exit 0 for a position this server wrote, else exit 4 with stdout empty, and the slot never moves', async () => {
    const tap = await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_fuzz' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    const good = first.state!.bookmarks['public-orders'];
    const confirmed = async () =>
      (await db.sql(`SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = 'sec_fuzz'`))[0]!.c as string;
    const before = await confirmed();
    const hex = fc.stringMatching(/^[0-9A-Fa-f]{1,9}$/);
    const lsn = fc.oneof(
      fc.tuple(hex, hex).map(([a, b]) => `${a}/${b}`),
      fc.bigInt({ min: -10n, max: 2n ** 64n }).map((n) => (n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -10n ? Number(n) : n.toString())),
      fc.double(),
      fc.string({ maxLength: 12 }),
      fc.constantFrom(null, true, [], {}, '0/0', ' 0/1 ', '1/0\n', '0x10', '1e3', good.lsn, String(good.lsn)),
    );
    const runs: string[] = [];
    await fc.assert(
      fc.asyncProperty(lsn, fc.constantFrom('lsn', 'tx'), async (value, field) => {
        const run = await tap.run({ bookmarks: { 'public-orders': { ...good, [field]: value } } });
        runs.push(`${field}=${JSON.stringify(value)}: ${run.code}`);
        expect([0, 4]).toContain(run.code);
        if (run.code === 4) expect(run.stdout).toBe('');
        expect(await confirmed()).toBe(before);
      }),
      { numRuns: 25, seed: 29 },
    );
    console.error(`lsn fuzz: ${runs.join(', ')}`);
  });

  it("a DBA's publication FOR TABLE is used as it is, never widened; one that leaves out deletes or does not list the table is refused and left as it was", async () => {
    await db.sql(`CREATE PUBLICATION dba_orders FOR TABLE orders`);
    const tap = await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_pub', publication: 'dba_orders' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/publication dba_orders: ran/);
    await db.sql(`UPDATE orders SET note = 'dba' WHERE id = 2; DELETE FROM orders WHERE id = 3`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.recs.map((r) => [r.id, r._sdc_deleted_at === null])).toEqual([
      [2, true],
      [3, false],
    ]);
    const tables = await db.sql(`SELECT tablename FROM pg_publication_tables WHERE pubname = 'dba_orders'`);
    expect(tables).toEqual([{ tablename: 'orders' }]);
    expect(
      await db.sql(
        `SELECT count(*)::int AS n FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid WHERE p.pubname = 'dba_orders'`,
      ),
    ).toEqual([{ n: 0 }]);

    await db.sql(`CREATE PUBLICATION no_deletes FOR TABLE orders WITH (publish = 'insert, update')`);
    const partial = await (await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_pub2', publication: 'no_deletes' })).run();
    expect(partial.code).toBe(2);
    expect(partial.stdout).toBe('');
    expect(partial.stderr).toMatch(
      /CRITICAL publication no_deletes does not publish delete, truncate.*ALTER PUBLICATION "no_deletes" SET \(publish = /,
    );

    await db.sql(`CREATE PUBLICATION other_table FOR TABLE secret`);
    const unlisted = await (await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_pub3', publication: 'other_table' })).run();
    expect(unlisted.code).toBe(2);
    expect(unlisted.stderr).toMatch(
      /CRITICAL publication other_table does not list orders.*did not create: have a DBA run ALTER PUBLICATION "other_table" ADD TABLE "public"."orders"/,
    );
    expect(await db.sql(`SELECT tablename FROM pg_publication_tables WHERE pubname = 'other_table'`)).toEqual([{ tablename: 'secret' }]);
  });

  it('every stream is checked before the first message: a refusal of the second leaves stdout empty', async () => {
    const tap = await logBasedTap(as(role), ['public-orders', 'public-guarded'], {
      replication_slot: 'sec_two',
      publication: 'tap_timescaledb',
    });
    const run = await tap.run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });

  it('a first run that fails drops the slot it created; the next run creates it again', async () => {
    // a plugin's stop during the initial copy: the copy's position never reached a bookmark
    const plugins = [{ module: STOP_PLUGIN, options: { stopAfterRows: 1 } }];
    const stopped = await (await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_fail', plugins })).run();
    expect(stopped.code, stopped.stderr).toBe(6);
    expect(stopped.stderr).toMatch(/dropped replication slot\(s\) sec_fail, created by this run before it failed/);
    expect(await db.sql(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'sec_fail'`)).toEqual([]);
    const ok = await (await logBasedTap(db, ['public-orders'], { replication_slot: 'sec_fail' })).run();
    expect(ok.code, ok.stderr).toBe(0);
    expect(await db.sql(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'sec_fail'`)).toEqual([{ slot_name: 'sec_fail' }]);
  });
});

describe.skipIf(!!nativeSkipReason)('LOG_BASED without free replication slots (own cluster)', () => {
  let cluster: OwnCluster;
  beforeAll(() => {
    cluster = startOwnCluster();
  });
  afterAll(() => cluster?.destroy());

  it('exit 2 before any output, naming the slots it needs and the fix', async () => {
    await cluster.sql(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`);
    const [{ free }] = await cluster.sql<{ free: number }>(
      `SELECT current_setting('max_replication_slots')::int - (SELECT count(*)::int FROM pg_replication_slots) AS free`,
    );
    await cluster.sql(`SELECT pg_create_physical_replication_slot('filler_' || g) FROM generate_series(1, ${free - 1}) g`);
    const tap = await logBasedTap({ url: cluster.adminUrl } as TestDatabase, ['public-t'], { replication_slot: 'needs_two' });
    const run = await tap.run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /CRITICAL this run needs 2 free replication slot\(s\) \(needs_two, a temporary one for a copy\), and the server has 1 .*max_replication_slots/,
    );
  });
});
