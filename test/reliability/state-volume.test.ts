import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson, type Selection } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const TABLES = 300;

/**
 * STATE volume stays bounded with many streams (issue #21: every STATE carries every bookmark and one
 * was written at each table's start and end, so 10,000 tables wrote 1.13 GB of STATE). Stream starts
 * and ends write STATE at most once a second; empty bookmarks are left out; the last STATE holds everything.
 */
describe.skipIf(nativeSkipReason)(`STATE volume over ${TABLES} small tables (native PostgreSQL)`, () => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`DO $$ BEGIN FOR i IN 1..${TABLES} LOOP
      EXECUTE format('CREATE TABLE s%s(id int PRIMARY KEY, v text); INSERT INTO s%s VALUES (1, ''a''), (2, ''b'')', i, i);
    END LOOP; END $$`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  const all = (sel: Selection): Catalog => select(catalog, Object.fromEntries(catalog.streams.map((s) => [s.tap_stream_id, sel])));

  it('INCREMENTAL: about one STATE a second instead of two per table, and the last one holds every bookmark', async () => {
    const started = Date.now();
    const run = await runTap(['--config', config, '--catalog', tmpJson(all({ method: 'INCREMENTAL', key: 'id' }))]);
    const seconds = (Date.now() - started) / 1000;
    expect(run.code, run.stderr).toBe(0);
    expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
    expect(records(run.messages)).toHaveLength(2 * TABLES);
    const states = run.messages.filter((m) => m.type === 'STATE');
    console.log(
      `${TABLES} tables in ${seconds.toFixed(1)} s: ${states.length} STATE messages, ${states.reduce((n, m) => n + JSON.stringify(m).length, 0)} bytes`,
    );
    expect(states.length).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    const last = lastState(run.messages)!;
    expect(Object.keys(last.bookmarks)).toHaveLength(TABLES);
    expect(Object.values(last.bookmarks).every((b: any) => b.replication_key_value === 2)).toBe(true);
    // resumed from it: only the row holding each bookmark (INCREMENTAL's >=) comes again
    const again = await runTap([
      '--config',
      config,
      '--catalog',
      tmpJson(all({ method: 'INCREMENTAL', key: 'id' })),
      '--state',
      tmpJson(last),
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(records(again.messages).every((r) => r.id === 2)).toBe(true);
  });

  it('FULL_TABLE: a finished stream leaves no empty bookmark in STATE', async () => {
    const run = await runTap(['--config', config, '--catalog', tmpJson(all({}))]);
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toHaveLength(2 * TABLES);
    expect(lastState(run.messages)!.bookmarks).toEqual({});
    for (const m of run.messages.filter((x) => x.type === 'STATE')) {
      expect(Object.values(m.value.bookmarks).every((b) => Object.keys(b as object).length > 0)).toBe(true);
    }
  });
});
