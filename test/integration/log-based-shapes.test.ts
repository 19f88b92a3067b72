import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { change, dropSlots, logBasedTap } from '../helpers/log-based.js';

const TENANT_PLUGIN = resolve(__dirname, '../fixtures/tenant-filter-plugin.mjs');
const COUNT_PLUGIN = resolve(__dirname, '../fixtures/row-count-hook-plugin.mjs');

/**
 * A plugin's `where` shape holds for change records as for copies: inserts and updates of other tenants
 * are not emitted, a row that moves out of the shape reaches the target as a delete, one that moves in
 * as its row, and deletes of other tenants' rows are not emitted. Deciding that needs each change's old
 * row, so without REPLICA IDENTITY FULL the stream is refused before any output, naming the chain.
 */
describe.skipIf(!!nativeSkipReason)("a plugin's where shape on LOG_BASED (native PostgreSQL)", () => {
  let db: TestDatabase;
  const plugins = [{ module: TENANT_PLUGIN, options: { tenant: 42 } }];
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE accounts (id int PRIMARY KEY, tenant int NOT NULL, name text);
      INSERT INTO accounts SELECT g, CASE WHEN g % 2 = 0 THEN 42 ELSE 7 END, 'a' || g FROM generate_series(1, 10) g;`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('refused without REPLICA IDENTITY FULL, naming the plugin chain; with it, only the rows the shape keeps, and moves become deletes', async () => {
    const refused = await (await logBasedTap(db, ['public-accounts'], { plugins, replication_slot: 'shape_refused' })).run();
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /CRITICAL public-accounts: tenant-filter\(logical-replication\) filters the stream with a where shape \(tenant = 42\).*REPLICA IDENTITY FULL/,
    );

    await db.sql('ALTER TABLE accounts REPLICA IDENTITY FULL');
    const tap = await logBasedTap(db, ['public-accounts'], { plugins, replication_slot: 'shape_full' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.recs.map((r) => r.id)).toEqual([2, 4, 6, 8, 10]);
    await db.sql(`
      INSERT INTO accounts VALUES (11, 7, 'other'), (12, 42, 'mine');
      UPDATE accounts SET name = 'renamed' WHERE id IN (2, 3);
      UPDATE accounts SET tenant = 7 WHERE id = 4;
      UPDATE accounts SET tenant = 42 WHERE id = 5;
      UPDATE accounts SET id = 106, tenant = 42 WHERE id = 6;
      UPDATE accounts SET id = 108, tenant = 7 WHERE id = 8;
      DELETE FROM accounts WHERE id IN (10, 9);`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.recs.map(change)).toEqual([
      { id: 12, tenant: 42, name: 'mine', deleted: false },
      { id: 2, tenant: 42, name: 'renamed', deleted: false },
      // moved out of the shape: the target must lose it
      { id: 4, tenant: 42, name: 'a4', deleted: true },
      // moved in: its row
      { id: 5, tenant: 42, name: 'a5', deleted: false },
      // a key change inside the shape: the old key deleted, the new row
      { id: 6, tenant: 42, name: 'a6', deleted: true },
      { id: 106, tenant: 42, name: 'a6', deleted: false },
      // a key change out of the shape: only the delete
      { id: 8, tenant: 42, name: 'a8', deleted: true },
      { id: 10, tenant: 42, name: 'a10', deleted: true },
    ]);
    expect(second.recs.every((r) => r.tenant === 42)).toBe(true);
  });

  it('a read hook sees each row of an initial copy once, and each change once', async () => {
    const tap = await logBasedTap(db, ['public-accounts'], { plugins: [{ module: COUNT_PLUGIN }], replication_slot: 'shape_hook' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`INFO row-count-hook: ${first.recs.length} rows seen`);
    await db.sql(`UPDATE accounts SET name = 'hooked' WHERE id <= 3`);
    const second = await tap.run(first.state);
    expect(second.recs).toHaveLength(3);
    expect(second.stderr).toContain('INFO row-count-hook: 3 rows seen');
  });
});
