import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { batchLines, batchRoot, manifestFiles } from '../helpers/batch-files.js';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { dropSlots, logBasedTap } from '../helpers/log-based.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';

/**
 * LOG_BASED writes each change's values from pgoutput's bytes into COPY text (row-text.ts): values
 * that COPY text escapes (tab, newline, CR, backslash, a literal \N), NULLs, non-ASCII text, JSON and
 * bytea must come out as the same JSON as a FULL_TABLE read of the same row; a key-only delete carries
 * the key and nulls; an UPDATE that leaves a TOASTed value out of the WAL carries the value all the same. The slot is read in COPY's binary format, whose rows may split anywhere.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED values (native PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`
      CREATE TABLE odd (id int PRIMARY KEY, gone int, t text, j jsonb, b bytea, ts timestamptz, n numeric, "Odd col" text);
      ALTER TABLE odd DROP COLUMN gone;
      INSERT INTO odd VALUES (1, 'first', '{}', NULL, '2024-01-01 00:00:00+00', 1, 'x');
      CREATE TABLE big (id int PRIMARY KEY, doc text, n int);
      ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
      INSERT INTO big SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 400) g;`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('changes with escaped, null and non-ASCII values are the records FULL_TABLE reads of the same rows', async () => {
    const tap = await logBasedTap(db, ['public-odd'], { replication_slot: 'values_odd' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    await db.sql(`
      INSERT INTO odd VALUES
        (2, E'tab\\there, newline\\nand CR\\r, backslash \\\\ and a literal \\\\N', '{"a": "x\\ty", "q": "\\"", "b": "\\\\"}', E'\\\\x00ff5c090a', '2024-02-29 23:59:59.999999+00', 12345678901234567890.5, E'\\\\N'),
        (3, 'ünïcødé 🚀 日本', '[1, 2.5, null, "é"]', '', '1999-12-31 12:00:00+00', -0.001, ''),
        (4, NULL, NULL, NULL, NULL, NULL, NULL),
        (5, 'to delete', '{}', NULL, NULL, 5, NULL);
      UPDATE odd SET t = E'updated\\t\\\\', "Odd col" = E'line\\nbreak' WHERE id = 1;
      DELETE FROM odd WHERE id = 5;`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(singerProblems(second.stdout)).toEqual([]);

    const full = await runTap(['--config', tap.config, '--catalog', tmpJson(select(await discover(tap.config), { 'public-odd': {} }))]);
    expect(full.code, full.stderr).toBe(0);
    const byId = new Map(records(full.messages).map((r) => [r.id, r]));
    const changes = second.recs;
    expect(changes.map((r) => r.id)).toEqual([2, 3, 4, 5, 1, 5]);
    for (const r of changes.slice(0, 3)) {
      const { _sdc_lsn: lsn, _sdc_deleted_at: deleted, ...row } = r;
      expect(typeof lsn).toBe('number');
      expect(deleted).toBeNull();
      expect(row).toEqual(byId.get(r.id));
    }
    expect(changes[2]).toMatchObject({ t: null, j: null, b: null, ts: null, n: null, 'Odd col': null });
    const { _sdc_lsn: _l, _sdc_deleted_at: _d, ...updated } = changes[4]!;
    expect(updated).toEqual(byId.get(1));
    expect(updated.t).toBe('updated\t\\');
    expect(changes[1]!.t).toBe('ünïcødé 🚀 日本');
    expect(changes[0]!.t).toBe('tab\there, newline\nand CR\r, backslash \\ and a literal \\N');
    // a delete keyed by the primary key: the key, nulls, and when it was deleted
    expect(changes[5]).toMatchObject({ id: 5, t: null, j: null, n: null });
    expect(Date.parse(changes[5]!._sdc_deleted_at)).toBeGreaterThan(Date.parse('2024-01-01'));
  });

  it('an UPDATE that leaves a TOASTed value untouched carries its real value: read by key (REPLICA IDENTITY DEFAULT) or from the old row (FULL)', async () => {
    const tap = await logBasedTap(db, ['public-big'], { replication_slot: 'values_big' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    const doc = first.recs[0]!.doc as string;
    expect(doc).toHaveLength(12800);
    await db.sql(`INSERT INTO big SELECT 2, repeat('x', 9000); INSERT INTO big SELECT 3, repeat('y', 9000);
      UPDATE big SET n = 1 WHERE id = 1;
      UPDATE big SET n = 2 WHERE id = 2; DELETE FROM big WHERE id = 2;
      UPDATE big SET id = 4, n = 4 WHERE id = 3;`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.recs.filter((r) => r._sdc_deleted_at === null && r.doc === null)).toEqual([]);
    // id 2: its update's value is gone with the row, and the delete after it says so; id 3 -> 4: the old key deleted
    expect(second.recs.map((r) => [r.id, r.n, r.doc?.length ?? null, r._sdc_deleted_at !== null])).toEqual([
      [2, null, 9000, false],
      [3, null, 9000, false],
      [1, 1, 12800, false],
      [2, null, null, true],
      [3, null, null, true],
      [4, 4, 9000, false],
    ]);
    expect(second.recs[2]!.doc).toBe(doc);

    await db.sql('ALTER TABLE big REPLICA IDENTITY FULL; UPDATE big SET n = 5 WHERE id = 1');
    const third = await tap.run(second.state);
    expect(third.code, third.stderr).toBe(0);
    expect(third.recs.map((r) => [r.id, r.n, r.doc])).toEqual([[1, 5, doc]]);
  });

  it('into BATCH files: the copy (records with its version) and then the changes (without) in JSONL files, in order', async () => {
    const { batch_config } = batchRoot('none');
    const tap = await logBasedTap(db, ['public-odd'], { replication_slot: 'values_batch', batch_config });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    const copied = batchLines(first.messages).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(copied.length).toBeGreaterThan(0);
    expect(first.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toHaveLength(2);
    await db.sql(`UPDATE odd SET t = 'batched' WHERE id = 1; DELETE FROM odd WHERE id = 3`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(
      batchLines(second.messages)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .map((r) => [r.id, r.t ?? null, r._sdc_deleted_at !== null]),
    ).toEqual([
      [1, 'batched', false],
      [3, null, true],
    ]);
  });

  it.skipIf(!!batchToolsSkip())(
    'into Parquet files: the copy, then the changes with their delete times and WAL positions typed',
    async () => {
      await db.sql(`CREATE TABLE pq (id int PRIMARY KEY, t text, j jsonb, ts timestamptz, n numeric(12,3));
      INSERT INTO pq VALUES (1, 'tab\there', '{"k": 12345678901234567890.5}', '2024-01-01 00:00:00.123456+00', 1.5), (2, NULL, NULL, NULL, NULL)`);
      const { batch_config } = batchRoot('gzip', {}, 'parquet');
      const tap = await logBasedTap(db, ['public-pq'], { replication_slot: 'values_parquet', batch_config });
      const first = await tap.run();
      expect(first.code, first.stderr).toBe(0);
      const full = await runTap([
        '--config',
        tmpJson({ url: db.url }),
        '--catalog',
        tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-pq': {} })),
      ]);
      const source = records(full.messages).map((r) => ({
        ...r,
        n: r.n === null ? null : Number(r.n).toFixed(3),
      }));
      const copy = await readParquet(manifestFiles(first.messages));
      expect(copy.types).toMatchObject({
        id: 'int64',
        n: 'decimal128(12, 3)',
        ts: 'timestamp[us, tz=UTC]',
        _sdc_lsn: 'int64',
        _sdc_deleted_at: 'timestamp[us, tz=UTC]',
      });
      expect(
        copy.rows.map(({ _sdc_lsn: _l, _sdc_deleted_at: _d, ...r }) => ({
          ...r,
          id: Number(r.id),
          j: r.j === null ? null : JSON.parse(r.j),
        })),
      ).toEqual(source);
      await db.sql(`UPDATE pq SET t = 'changed' WHERE id = 1; DELETE FROM pq WHERE id = 2`);
      const second = await tap.run(first.state);
      expect(second.code, second.stderr).toBe(0);
      const changes = await readParquet(manifestFiles(second.messages));
      expect(changes.rows.map((r) => [r.id, r.t, r._sdc_deleted_at !== null, /^\d+$/.test(String(r._sdc_lsn))])).toEqual([
        ['1', 'changed', false, true],
        ['2', null, true, true],
      ]);
    },
  );
});
