import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';

describe('FULL_TABLE and INCREMENTAL on the native server, through the CLI', () => {
  let db: TestDatabase;
  let config: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE items(id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL)`);
    await db.sql(
      `INSERT INTO items SELECT g, 'item ' || g, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 25000) g`,
    );
    config = tmpJson({ url: db.url, state_every_n_rows: 1000 });
  });
  afterAll(async () => db?.close());

  it('syncs every row once with ACTIVATE_VERSION around the records', async () => {
    const catalog = await discover(config);
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-items': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    const recs = records(run.messages, 'public-items');
    expect(recs).toHaveLength(25000);
    expect(new Set(recs.map((r) => r.id)).size).toBe(25000);
    const types = run.messages.map((m) => m.type);
    expect(types[0]).toBe('SCHEMA');
    expect(types.indexOf('ACTIVATE_VERSION')).toBeLessThan(types.indexOf('RECORD'));
    expect(types.lastIndexOf('ACTIVATE_VERSION')).toBeGreaterThan(types.lastIndexOf('RECORD'));
    expect(run.messages.filter((m) => m.type === 'STATE').length).toBeGreaterThanOrEqual(25);
  });

  it('INCREMENTAL reads only rows at or after the bookmark on the second run', async () => {
    const catalog = await discover(config);
    const cat = tmpJson(select(catalog, { 'public-items': { method: 'INCREMENTAL', key: 'updated_at' } }));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(25000);
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-items'].replication_key_value).toBe('2024-01-18T08:40:00Z');
    await db.sql(
      `INSERT INTO items SELECT g, 'new ' || g, '2024-02-01'::timestamptz + g * interval '1 second' FROM generate_series(25001, 25010) g`,
    );
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(second.code, second.stderr).toBe(0);
    // >= the bookmark: the last row of the first run comes again, then the 10 new ones
    expect(records(second.messages).map((r) => r.id)).toEqual([25000, ...Array.from({ length: 10 }, (_, i) => 25001 + i)]);
  });
});
