import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { buildExamplePlugin, projectWith } from '../helpers/example-plugin.js';
import { change, dropSlots, selectLogBased } from '../helpers/log-based.js';
import { discover, lastState, records, runTap, tmpJson } from '../helpers/run-tap.js';

/**
 * Record transforms on change records (native PostgreSQL: logical replication): examples/tenant-filter
 * built as a package sees each change's operation and old row, so a row that moves out of the tenant
 * reaches the target as a delete and the tenant's deletes reach it; a transform's stop on a change names
 * the change's position, and `skip_changes` with that position lets the stream past it.
 */
const criticals = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));

describe.skipIf(!!nativeSkipReason)('record transforms on LOG_BASED changes (native PostgreSQL)', () => {
  let db: TestDatabase;
  let project: string;
  let pluginDir: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    const root = mkdtempSync(join(tmpdir(), 'tap-log-records-'));
    pluginDir = buildExamplePlugin(root, 'tenant-filter');
    project = projectWith(root, pluginDir, 'tap-timescaledb-tenant-filter');
    writeFileSync(
      join(pluginDir, 'poison.mjs'),
      `import { StopSyncError } from 'tap-timescaledb';
       export default { name: 'poison-check', register(_c, ctx) { ctx.records.transform(() => true, {
         transform(r) { if (r.values.name === 'poison') throw new StopSyncError('name is poison'); } }); } };\n`,
    );
  }, 180_000);
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });
  const tap = async (table: string, extra: Record<string, unknown>) => {
    const config = { url: db.url, sslmode: 'disable', ...extra };
    const catalog = tmpJson(selectLogBased(await discover(tmpJson({ url: db.url })), [`public-${table}`]));
    return (state?: unknown, more: Record<string, unknown> = {}) =>
      runTap(['--config', tmpJson({ ...config, ...more }), '--catalog', catalog, ...(state ? ['--state', tmpJson(state)] : [])], {
        cwd: project,
      });
  };

  it('a tenant filter holds for changes: moves out become deletes, the tenant’s deletes arrive, others are left out', async () => {
    await db.sql(`CREATE TABLE accounts (id int PRIMARY KEY, tenant_id int NOT NULL, name text);
      ALTER TABLE accounts REPLICA IDENTITY FULL;
      INSERT INTO accounts SELECT g, CASE WHEN g % 2 = 0 THEN 42 ELSE 7 END, 'a' || g FROM generate_series(1, 10) g;`);
    const run = await tap('accounts', {
      replication_slot: 'records_tenant',
      plugins: [{ module: 'tap-timescaledb-tenant-filter', options: { tenant: 42 } }],
    });
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages).map((r) => r.id)).toEqual([2, 4, 6, 8, 10]);
    await db.sql(`
      INSERT INTO accounts VALUES (11, 7, 'other'), (12, 42, 'mine');
      UPDATE accounts SET name = 'renamed' WHERE id IN (2, 3);
      UPDATE accounts SET tenant_id = 7 WHERE id = 4;
      UPDATE accounts SET tenant_id = 42 WHERE id = 5;
      UPDATE accounts SET id = 108, tenant_id = 7 WHERE id = 8;
      DELETE FROM accounts WHERE id IN (10, 9);`);
    const second = await run(lastState(first.messages));
    expect(second.code, second.stderr).toBe(0);
    expect(records(second.messages).map(change)).toEqual([
      { id: 12, tenant_id: 42, name: 'mine', deleted: false },
      { id: 2, tenant_id: 42, name: 'renamed', deleted: false },
      // moved out of the tenant: the target must lose the row
      { id: 4, tenant_id: 7, name: 'a4', deleted: true },
      // moved in: its row
      { id: 5, tenant_id: 42, name: 'a5', deleted: false },
      // a key change out of the tenant: the old key's delete (its old row was the tenant's), then the update
      // seen with that old row: a delete of the new key, which the target never had (harmless)
      { id: 8, tenant_id: 42, name: 'a8', deleted: true },
      { id: 108, tenant_id: 7, name: 'a8', deleted: true },
      { id: 10, tenant_id: 42, name: 'a10', deleted: true },
    ]);
  });

  it('a stop on a change names its position; skip_changes with it goes past that one change, a position the state passed is refused', async () => {
    await db.sql(`CREATE TABLE orders (id int PRIMARY KEY, name text); INSERT INTO orders VALUES (1, 'first');`);
    const run = await tap('orders', {
      replication_slot: 'records_poison',
      state_every_n_rows: 2,
      plugins: [{ module: join(pluginDir, 'poison.mjs') }],
    });
    const copied = await run();
    expect(copied.code, copied.stderr).toBe(0);
    const state0 = lastState(copied.messages)!;
    await db.sql(`INSERT INTO orders VALUES (2, 'a'), (3, 'b'); INSERT INTO orders VALUES (4, 'poison'), (5, 'c');`);
    await db.sql(`INSERT INTO orders VALUES (6, 'd');`);
    const stopped = await run(state0);
    expect(stopped.code).toBe(6);
    const line = criticals(stopped.stderr)[0]!;
    const m =
      /name is poison at change (\d+):(\d+) \(lsn \d+, a insert\); to skip that change, rerun with the STATE and the setting skip_changes: \{"public-orders": "(\d+):(\d+)"\}/.exec(
        line,
      );
    expect(m, line).not.toBeNull();
    const position = `${m![3]}:${m![4]}`;
    // the statements ran in one transaction: the poisoned insert is its third change
    expect(m![2]).toBe('3');
    // the STATE covers the changes before the poisoned one's batch: a rerun stops there again
    const state1 = lastState(stopped.messages)!;
    const again = await run(state1);
    expect(again.code).toBe(6);
    expect(criticals(again.stderr)[0]).toContain(`at change ${position}`);
    // a position the state is past is refused before any output
    const past = await run(state1, { skip_changes: { 'public-orders': '1:1' } });
    expect(past.code).toBe(4);
    expect(past.stdout).toBe('');
    expect(criticals(past.stderr)[0]).toMatch(/skip_changes.public-orders is 1:1, but the state's bookmark .* is past that change already/);
    // with the position: past the poisoned change, every other change arrives
    const skipped = await run(state1, { skip_changes: { 'public-orders': position } });
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toMatch(new RegExp(`skipped the insert at ${position} .* as skip_changes asks`));
    const seen = [...records(stopped.messages), ...records(skipped.messages)].map((r) => r.id as number);
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual([2, 3, 5, 6]);
    expect(records(skipped.messages).map((r) => r.id)).not.toContain(4);
  });
});
