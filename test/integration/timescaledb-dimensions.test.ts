import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { chunkReads, discover, lastState, records, runTap, runTapUntilKilled, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import {
  createHourlyHypertable,
  createThreeDimensionHypertable,
  HOURLY_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
  SPACED_COLUMNS,
} from '../helpers/hypertable-fixtures.js';
import { streamMetadata, type Catalog } from '../../src/core/singer/catalog.js';

describeOnEngines('hypertable shapes: space dimensions, chunks in a user schema, continuous aggregates', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;
  let spacedChunks: number;

  beforeAll(async () => {
    db = await engine.open();
    await createThreeDimensionHypertable(db, 'spaced');
    await db.sql(`
      CREATE SCHEMA vault;
      CREATE TABLE vault.keep_me (id int PRIMARY KEY);
      CREATE TABLE placed (ts timestamptz NOT NULL, note text NOT NULL);
      SELECT create_hypertable('placed', 'ts', chunk_time_interval => interval '1 day', associated_schema_name => 'vault');`);
    await createHourlyHypertable(db, 'hourly', 5);
    await db.sql(`INSERT INTO placed SELECT ts, note FROM hourly`);
    await db.sql(`CREATE MATERIALIZED VIEW daily WITH (timescaledb.continuous) AS
        SELECT time_bucket('1 day', ts) AS day, count(*)::int AS n, max(note) AS last_note FROM hourly GROUP BY 1 WITH NO DATA`);
    await db.sql(`CALL refresh_continuous_aggregate('daily', NULL, NULL)`); // not in a transaction: a statement of its own
    spacedChunks = Number(
      (await db.sql(`SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'spaced'`))[0]!.n,
    );
    config = tmpJson({ url: db.url, state_every_n_rows: 50, timescaledb_chunk_discovery_interval_minutes: 0 });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('lists hypertables and the continuous aggregate as streams, never a chunk, wherever its schema', async () => {
    const ids = catalog.streams.map((s) => s.tap_stream_id).sort();
    expect(ids).toEqual(['public-daily', 'public-hourly', 'public-placed', 'public-spaced', 'vault-keep_me']);
    // the chunks of `placed` live in the user schema vault: excluded by catalog membership, not by schema name
    const [vault] = await db.sql(
      `SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'placed' AND chunk_schema = 'vault'`,
    );
    expect(vault!.n).toBe(5);
    expect(streamMetadata(streamEntry(catalog, 'public-spaced'))['timescaledb.space-dimensions']).toEqual([
      { column: 'device', partitions: 3 },
      { column: 'zone', partitions: null },
    ]);
  });

  it('syncs a three-dimension hypertable with every row once: one read per chunk, selected by all its dimensions', async () => {
    expect(spacedChunks).toBeGreaterThan(12); // more chunks than time ranges: 4 days, 3 hash partitions, 2 zone ranges
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-spaced': {} }))], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    const got = records(run.messages);
    expect(got.map((r) => r.note).sort()).toEqual(await sourceNotes(db, 'spaced')); // a sorted list: a duplicate would show
    expect(recordsChecksum(got, SPACED_COLUMNS)).toEqual(await sourceChecksum(db, 'spaced', SPACED_COLUMNS));
    const reads = chunkReads(run.stderr, 'public-spaced');
    expect(reads).toHaveLength(spacedChunks);
    expect(
      reads.every((l) => l.includes('get_partition_hash(device)') && l.includes('zone')),
      reads[0],
    ).toBe(true);
  });

  it('resumes an interrupted sync of it from slices keyed by every dimension, with no row missing', async () => {
    const cat = tmpJson(select(catalog, { 'public-spaced': {} }));
    const done = (m: Record<string, any>): string[] => (m.type === 'STATE' ? (m.value.bookmarks['public-spaced']?.chunks?.done ?? []) : []);
    const first = await runTapUntilKilled(['--config', config, '--catalog', cat], (m) => done(m).length >= 2);
    expect(first.killed).toBe(true);
    const state = lastState(first.messages)!;
    const keys: string[] = state.bookmarks['public-spaced'].chunks.done;
    // time range | hash range | zone range, as TimescaleDB's dimension slices hold them
    for (const k of keys) expect(k).toMatch(/^\d+:\d+\|-?\d+:-?\d+\|-?\d+:-?\d+$/);
    const second = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(second.code, second.stderr).toBe(0);
    const before = records(first.messages).map((r) => r.note);
    const after = records(second.messages).map((r) => r.note);
    const source = await sourceNotes(db, 'spaced');
    expect([...new Set([...before, ...after])].sort()).toEqual(source);
    // only the chunk that was being read comes again (at most its rows, here under 1500 / chunks * 3)
    expect(before.length + after.length - source.length).toBeLessThan((3 * source.length) / spacedChunks);
  });

  it('syncs the hypertable whose chunks are in a user schema, and the continuous aggregate with its rows', async () => {
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-placed': {}, 'public-daily': {} }))]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('public-placed: FULL_TABLE with reader timescaledb-chunks');
    const placed = { ts: 'time', note: 'text' } as const;
    expect(recordsChecksum(records(run.messages, 'public-placed'), placed)).toEqual(await sourceChecksum(db, 'placed', placed));
    const daily = { day: 'time', n: 'int', last_note: 'text' } as const;
    const rows = records(run.messages, 'public-daily');
    expect(rows).toHaveLength(5);
    expect(recordsChecksum(rows, daily)).toEqual(await sourceChecksum(db, 'daily', daily));
    expect(recordsChecksum(records(run.messages, 'public-placed'), placed)).toEqual(
      await sourceChecksum(db, 'hourly', { ts: HOURLY_COLUMNS.ts!, note: 'text' }),
    );
  });
});

describeOnEngines('a hypertable partitioned on a function of its time column (partition_func)', (engine) => {
  let db: TestDatabase;
  let config: string;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    // ids are epoch seconds as text; chunk ranges bound epoch_text_ts(id), not id: 4 days of 48 rows
    await db.sql(`CREATE FUNCTION epoch_text_ts(t text) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$ SELECT to_timestamp(t::bigint) $$;
      CREATE TABLE events (id text NOT NULL, n int NOT NULL);
      SELECT create_hypertable('events', by_range('id', interval '1 day', partition_func => 'epoch_text_ts'));
      INSERT INTO events SELECT (1704067200 + i * 1800)::text, i FROM generate_series(0, 191) i;`);
    config = tmpJson({ url: db.url });
    catalog = await discover(config);
  });
  afterAll(async () => db?.close());

  it('FULL_TABLE reads every row once, each chunk by its own constraint on epoch_text_ts(id)', async () => {
    // it used to put the chunk's internal bounds on id itself: exit 1, "date/time field value out of range"
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-events': {} }))], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(
      records(run.messages)
        .map((r) => r.n)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 192 }, (_, i) => i));
    const reads = chunkReads(run.stderr, 'public-events');
    expect(reads).toHaveLength(4);
    expect(
      reads.every((l) => l.includes('epoch_text_ts(id)')),
      reads[0],
    ).toBe(true);
  });

  it('INCREMENTAL on id: the next run reads the bookmark row and the new rows, wherever their chunk', async () => {
    const cat = tmpJson(select(catalog, { 'public-events': { method: 'INCREMENTAL', key: 'id' } }));
    const first = await runTap(['--config', config, '--catalog', cat]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(192);
    await db.sql(`INSERT INTO events VALUES ('1704412800', 500), ('1704499200', 501)`); // the 5th and 6th day: new chunks
    const next = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(lastState(first.messages))]);
    expect(next.code, next.stderr).toBe(0);
    expect(records(next.messages).map((r) => r.n)).toEqual([191, 500, 501]);
  });
});
