import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { chunkReads, discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const debug = { env: { TAP_LOG_LEVEL: 'debug' } };
/** A UUIDv7 (RFC 9562) for a timestamp, in SQL: 48 bits of Unix ms, version 7, variant 10, bits from `seed`. */
const uuidV7 = (ts: string, seed: string) =>
  `(lpad(to_hex((extract(epoch FROM ${ts}) * 1000)::int8), 12, '0') || '7' || substr(md5(${seed}), 1, 3) || '8' || substr(md5(${seed}), 4, 15))::uuid`;

describeOnEngines('hypertables partitioned on a UUIDv7 column (TimescaleDB 2.22+)', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  const sourceIds = async () => (await db.sql<{ id: string }>(`SELECT id::text AS id FROM events ORDER BY id`)).map((r) => r.id);
  // 2.23 lists a uuid chunk's range as µs integers, 2.28 as timestamps
  const chunksEndingAfter = async (micros: bigint) =>
    Number(
      (
        await db.sql<{ n: string }>(
          `SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'events' AND coalesce(range_end_integer, (extract(epoch FROM range_end) * 1000000)::int8) > $1`,
          [micros.toString()],
        )
      )[0]!.n,
    );

  beforeAll(async () => {
    db = await engine.open();
    // 10 one-day chunks, a row every 2 hours, plus rows on the first and last millisecond of a day
    await db.sql(`
      CREATE TABLE events (id uuid NOT NULL, note text NOT NULL);
      SELECT create_hypertable('events', by_range('id', interval '1 day'));
      INSERT INTO events SELECT ${uuidV7('t', 't::text')}, 'e' || to_char(t, 'DD HH24:MI:SS.MS')
        FROM generate_series(timestamptz '2024-03-01', timestamptz '2024-03-10 22:00', interval '2 hours') t;
      INSERT INTO events SELECT ${uuidV7('t', "t::text || 'edge'")}, 'edge ' || to_char(t, 'DD HH24:MI:SS.MS')
        FROM unnest(ARRAY[timestamptz '2024-03-04 00:00:00.000', timestamptz '2024-03-04 23:59:59.999']) t;`);
    config = tmpJson({ url: db.url, timescaledb_chunk_discovery_interval_minutes: 0 });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('lists the uuid column as the time column and first replication key', () => {
    const root = catalog.streams
      .find((s) => s.tap_stream_id === 'public-events')!
      .metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
    expect(root['timescaledb.time-column']).toBe('id');
    expect((root['valid-replication-keys'] as string[])[0]).toBe('id');
  });

  it('FULL_TABLE reads every chunk once by its uuid range, boundary milliseconds included, every row exactly once', async () => {
    const run = await runTap(
      ['--config', config, '--catalog', tmpJson(select(catalog, { 'public-events': { method: 'FULL_TABLE' } }))],
      debug,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(
      records(run.messages)
        .map((r) => r.id)
        .sort(),
    ).toEqual(await sourceIds());
    const reads = chunkReads(run.stderr, 'public-events');
    expect(reads).toHaveLength(await chunksEndingAfter(-1n));
    expect(reads[0]).toMatch(/"id" >= '[0-9a-f]{8}-[0-9a-f]{4}-7000-8000-000000000000'::uuid AND "id" < '/);
  });

  it('INCREMENTAL on the uuid prunes the chunks before the bookmark, and late_arrival_lookback widens the window by time', async () => {
    const cat = tmpJson(select(catalog, { 'public-events': { method: 'INCREMENTAL', key: 'id' } }));
    const first = await runTap(['--config', config, '--catalog', cat], debug);
    expect(first.code, first.stderr).toBe(0);
    const state = lastState(first.messages)!;
    const ids = await sourceIds();
    expect(state.bookmarks['public-events'].replication_key_value).toBe(ids.at(-1));

    await db.sql(
      `INSERT INTO events SELECT ${uuidV7('t', "t::text || 'new'")}, 'new' FROM unnest(ARRAY[timestamptz '2024-03-11 01:00', timestamptz '2024-03-11 02:00']) t`,
    );
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)], debug);
    expect(second.code, second.stderr).toBe(0);
    const bookmarkMicros = Date.parse('2024-03-10T22:00:00Z') * 1000;
    expect(chunkReads(second.stderr, 'public-events')).toHaveLength(await chunksEndingAfter(BigInt(bookmarkMicros))); // 03-10 and the new 03-11
    expect(
      records(second.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(['e10 22:00:00.000', 'new', 'new']);

    const widened = await runTap(
      ['--config', tmpJson({ url: db.url, late_arrival_lookback: '2 days' }), '--catalog', cat, '--state', tmpJson(state)],
      debug,
    );
    expect(widened.code, widened.stderr).toBe(0);
    const from = BigInt(bookmarkMicros - 2 * 86_400_000_000);
    expect(chunkReads(widened.stderr, 'public-events')).toHaveLength(await chunksEndingAfter(from)); // 03-08 … 03-11
    const notes = records(widened.messages).map((r) => r.note);
    expect(notes).toContain('e08 22:00:00.000');
    expect(notes).not.toContain('e08 20:00:00.000');
    expect(notes.filter((n) => n === 'new')).toHaveLength(2);
  });
});
