import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { chunkReads, discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import {
  createHourlyHypertable,
  createMetricsHypertable,
  HOURLY_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
} from '../helpers/hypertable-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const debug = { env: { TAP_LOG_LEVEL: 'debug' } };

describeOnEngines('INCREMENTAL on hypertables: chunk pruning, late data, non-time keys', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    await createMetricsHypertable(db, 'feed', 10); // 10 days x 2 device partitions = 20 chunks
    await createHourlyHypertable(db, 'edits', 8);
    await createHourlyHypertable(db, 'naive', 6, 'timestamp');
    config = tmpJson({ url: db.url, timescaledb_chunk_discovery_interval_minutes: 0 });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('reads only the newest chunks on the next run; late data inside late_arrival_lookback is picked up, outside it is not', async () => {
    const cat = tmpJson(select(catalog, { 'public-feed': { method: 'INCREMENTAL', key: 'ts' } }));
    const first = await runTap(['--config', config, '--catalog', cat], debug);
    expect(first.code, first.stderr).toBe(0);
    expect(chunkReads(first.stderr, 'public-feed')).toHaveLength(20);
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-feed'].replication_key_value).toBe('2024-01-10T23:00:00Z');
    await db.sql(`INSERT INTO feed VALUES ('2024-01-10 23:30+00', 1, 0, 'new1'), ('2024-01-11 01:00+00', 2, 0, 'new2')`);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)], debug);
    expect(second.code, second.stderr).toBe(0);
    // the 2 chunks of the bookmark's day and the new day's one chunk (device 2's partition); 9 days x 2 untouched
    const reads = chunkReads(second.stderr, 'public-feed');
    expect(reads).toHaveLength(3);
    expect(
      reads.every((l) => l.includes(`"ts" >= '2024-01-10T23:00:00Z'`)),
      reads.join('\n'),
    ).toBe(true);
    expect(second.stderr).toContain('18 chunk(s) end before the bookmark');
    expect(
      records(second.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(['new1', 'new2', 'r957', 'r958', 'r959', 'r960'].sort());
    const bookmark = lastState(second.messages)!;
    expect(bookmark.bookmarks['public-feed'].replication_key_value).toBe('2024-01-11T01:00:00Z');

    // late rows: 1.5 days before the bookmark (inside a 3-day window) and 5.5 days before it (outside)
    await db.sql(`INSERT INTO feed VALUES ('2024-01-09 12:00+00', 3, 0, 'late-inside'), ('2024-01-05 12:00+00', 3, 0, 'late-outside')`);
    const noLookback = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(bookmark)]);
    expect(records(noLookback.messages).map((r) => r.note)).not.toContain('late-inside');
    const withLookback = await runTap(
      ['--config', tmpJson({ url: db.url, late_arrival_lookback: '3 days' }), '--catalog', cat, '--state', tmpJson(bookmark)],
      debug,
    );
    expect(withLookback.code, withLookback.stderr).toBe(0);
    const notes = records(withLookback.messages).map((r) => r.note);
    expect(notes).toContain('late-inside');
    // documented limit: a row older than bookmark - lookback is never read by an incremental run
    expect(notes).not.toContain('late-outside');
    expect(await sourceNotes(db, 'feed')).toContain('late-outside');
    // the window starts 2024-01-08 01:00: the chunks of Jan 8, 9, 10 (2 each) and Jan 11 (1), filtered from the window
    const late = chunkReads(withLookback.stderr, 'public-feed');
    expect(late).toHaveLength(7);
    expect(
      late.every((l) => l.includes(`"ts" >= ('2024-01-11T01:00:00Z'::timestamp with time zone - '3 days'::interval)`)),
      late.join('\n'),
    ).toBe(true);
  });

  it('INCREMENTAL on a non-time column (updated_at) reads every chunk with the predicate and picks up updated rows', async () => {
    const cat = tmpJson(select(catalog, { 'public-edits': { method: 'INCREMENTAL', key: 'updated_at' } }));
    const first = await runTap(['--config', config, '--catalog', cat], debug);
    expect(first.code, first.stderr).toBe(0);
    expect(recordsChecksum(records(first.messages), HOURLY_COLUMNS)).toEqual(await sourceChecksum(db, 'edits', HOURLY_COLUMNS));
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-edits'].replication_key_value).toBe('2024-01-08T23:00:00Z');

    // rows in two old chunks change: their time stays, their updated_at moves past the bookmark
    await db.sql(
      `UPDATE edits SET updated_at = '2024-02-01 00:00+00', note = note || '-edited' WHERE ts IN ('2024-01-02 05:00+00', '2024-01-05 17:00+00')`,
    );
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)], debug);
    expect(second.code, second.stderr).toBe(0);
    const reads = chunkReads(second.stderr, 'public-edits');
    expect(reads).toHaveLength(8); // no chunk can be skipped: updated_at says nothing of the time ranges
    expect(
      reads.every((l) => l.includes(`"updated_at" >= '2024-01-08T23:00:00Z'`)),
      reads.join('\n'),
    ).toBe(true);
    expect(second.stderr).not.toContain('end before the bookmark');
    const got = records(second.messages);
    expect(got.map((r) => r.note).sort()).toEqual(['h191', 'h29-edited', 'h113-edited'].sort());
    expect(recordsChecksum(got, HOURLY_COLUMNS)).toEqual(
      await sourceChecksum(db, 'edits', HOURLY_COLUMNS, `updated_at >= '2024-01-08 23:00+00'`),
    );
    expect(lastState(second.messages)!.bookmarks['public-edits'].replication_key_value).toBe('2024-02-01T00:00:00Z');
  });

  it('a timestamp (no time zone) time column: synced as UTC, and pruned on the next run', async () => {
    const cat = tmpJson(select(catalog, { 'public-naive': { method: 'INCREMENTAL', key: 'ts' } }));
    const first = await runTap(['--config', config, '--catalog', cat], debug);
    expect(first.code, first.stderr).toBe(0);
    expect(recordsChecksum(records(first.messages), HOURLY_COLUMNS)).toEqual(await sourceChecksum(db, 'naive', HOURLY_COLUMNS));
    expect(records(first.messages)[0]).toMatchObject({ ts: '2024-01-01T00:00:00Z', note: 'h0' });
    const state = lastState(first.messages)!;
    expect(state.bookmarks['public-naive'].replication_key_value).toBe('2024-01-06T23:00:00Z');
    await db.sql(`INSERT INTO naive VALUES ('2024-01-06 23:30', now(), 'n1'), ('2024-01-07 00:00', now(), 'n2')`);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)], debug);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('5 chunk(s) end before the bookmark');
    const reads = chunkReads(second.stderr, 'public-naive');
    expect(reads).toHaveLength(2);
    // chunk ranges are compared in UTC: the day of Jan 6 is exactly [Jan 6 00:00, Jan 7 00:00) in the column's own type
    expect(reads[0]).toContain(`"ts" >= ('2024-01-06 00:00:00+00'::timestamptz AT TIME ZONE 'UTC')`);
    expect(
      records(second.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(['h143', 'n1', 'n2']);
    expect(records(second.messages).find((r) => r.note === 'n2')!.ts).toBe('2024-01-07T00:00:00Z');
  });

  it('INCREMENTAL on a numeric column: the bookmark is the largest value by number, not by text (10.5 > 9.5)', async () => {
    await db.sql(`CREATE TABLE scores (ts timestamptz NOT NULL, v numeric NOT NULL);
      SELECT create_hypertable('scores', by_range('ts', interval '1 day'));
      INSERT INTO scores VALUES ('2024-01-01 01:00+00', 9.5), ('2024-01-02 01:00+00', 10.5), ('2024-01-03 01:00+00', 3.25)`);
    const cat = tmpJson(select(await discover(config), { 'public-scores': { method: 'INCREMENTAL', key: 'v' } }));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    const state = lastState(first.messages)!;
    expect(String(state.bookmarks['public-scores'].replication_key_value)).toBe('10.5');
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(records(second.messages).map((r) => Number(r.v))).toEqual([10.5]); // the bookmark's own row again (>=), nothing below it
  });
});
