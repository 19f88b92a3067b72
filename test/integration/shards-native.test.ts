import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson, type TapRun } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const SHARDS = 4;

/**
 * 24 one-day chunks of `metrics` (8 compressed), 4 devices every 10 minutes; `orders` keyed by bigint,
 * `tags` keyed by text; `events` RANGE-partitioned by day (8 days) with a DEFAULT partition.
 * Every row has a unique `note`.
 */
async function createFixtures(db: TestDatabase): Promise<void> {
  await db.sql(`
    CREATE TABLE metrics (ts timestamptz NOT NULL, device int NOT NULL, value float8, note text NOT NULL);
    SELECT create_hypertable('metrics', by_range('ts', interval '1 day'));
    INSERT INTO metrics SELECT t, d, d * 1.5, 'm' || row_number() OVER (ORDER BY t, d)
      FROM generate_series('2024-01-01'::timestamptz, '2024-01-24 23:50'::timestamptz, interval '10 minutes') t, generate_series(1, 4) d;
    ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
    SELECT compress_chunk(c) FROM (SELECT c FROM show_chunks('metrics') c ORDER BY c LIMIT 8) s;
    CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL);
    INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 20000) g;
    CREATE TABLE tags (code text PRIMARY KEY, note text NOT NULL);
    INSERT INTO tags SELECT md5(g::text), 't' || g FROM generate_series(1, 2000) g;
    CREATE TABLE events (ts timestamptz NOT NULL, id int NOT NULL, note text NOT NULL) PARTITION BY RANGE (ts);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    DO $$ BEGIN FOR d IN 0..7 LOOP
      EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM (%L) TO (%L)', d,
                     '2024-01-01'::timestamptz + d * interval '1 day', '2024-01-01'::timestamptz + (d + 1) * interval '1 day');
    END LOOP; END $$;
    INSERT INTO events SELECT '2024-01-01'::timestamptz + g * interval '1 minute', g, 'e' || g FROM generate_series(0, 8 * 1440 - 1) g;
    INSERT INTO events SELECT '2023-06-01'::timestamptz + g * interval '1 hour', -g, 'x' || g FROM generate_series(1, 50) g;`);
}

const STREAMS = ['public-metrics', 'public-orders', 'public-tags', 'public-events'];

function shardConfig(db: TestDatabase, index: number, extra: Record<string, unknown> = {}): string {
  return tmpJson({ url: db.url, shard_index: index, shard_count: SHARDS, ...extra });
}

async function sourceNotes(db: TestDatabase, table: string): Promise<string[]> {
  return (await db.sql<{ note: string }>(`SELECT note FROM ${table}`)).map((r) => r.note).sort();
}

function notesOf(run: { messages: Record<string, any>[] }, stream: string): string[] {
  return records(run.messages, stream).map((r) => r.note as string);
}

/** Every shard's notes of one stream: their union is the source exactly once, and each holds 10–40%. */
function expectExactUnion(runs: readonly TapRun[], stream: string, source: readonly string[]): void {
  const perShard = runs.map((r) => notesOf(r, stream));
  const all = perShard.flat();
  expect(all.length, `${stream}: rows over all shards`).toBe(source.length);
  expect(new Set(all).size, `${stream}: distinct notes`).toBe(source.length);
  expect([...all].sort()).toEqual(source);
  for (const [i, notes] of perShard.entries()) {
    const share = notes.length / source.length;
    expect(share, `${stream}: shard ${i}'s share`).toBeGreaterThanOrEqual(0.1);
    expect(share, `${stream}: shard ${i}'s share`).toBeLessThanOrEqual(0.4);
  }
}

describe.skipIf(!!nativeTimescaleSkipReason && !process.env.CI)('shards on native TimescaleDB: 4 processes side by side', () => {
  let db: TestDatabase;
  let catalog: Catalog;
  let fullTable: string;
  let fullRuns: TapRun[];
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
    await createFixtures(db);
    catalog = await discover(tmpJson({ url: db.url }));
    fullTable = tmpJson(select(catalog, Object.fromEntries(STREAMS.map((s) => [s, {}]))));
    // the four shards at once, as an orchestrator runs them
    fullRuns = await Promise.all(
      Array.from({ length: SHARDS }, (_, i) => runTap(['--config', shardConfig(db, i), '--catalog', fullTable])),
    );
  });
  afterAll(async () => db?.close());

  it('FULL_TABLE: the union over the shards is every row exactly once, each shard 10–40% of each stream, its share logged', async () => {
    for (const run of fullRuns) expect(run.code, run.stderr).toBe(0);
    for (const [stream, table] of [
      ['public-metrics', 'metrics'],
      ['public-orders', 'orders'],
      ['public-tags', 'tags'],
      ['public-events', 'events'],
    ] as const) {
      expectExactUnion(fullRuns, stream, await sourceNotes(db, table));
    }
    // 24 one-day chunks go round the 4 shards: 6 each; 9 partitions: 8 by day, 2 each, and the DEFAULT one
    for (const [i, run] of fullRuns.entries()) {
      expect(run.stderr).toContain(`public-metrics: shard ${i} of 4: 6 of 24 chunks or partitions`);
      expect(run.stderr).toMatch(new RegExp(`public-events: shard ${i} of 4: [23] of 9 chunks or partitions`));
      expect(run.stderr).toContain(`public-orders: shard ${i} of 4: the rows whose key (id) modulo 4 is ${i}`);
      // ACTIVATE_VERSION would let the target drop the rows of the other shards
      expect(run.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toEqual([]);
      expect(run.stderr).toContain('no ACTIVATE_VERSION is written');
    }
  });

  it('a shard killed with SIGKILL mid-hypertable resumes from its own STATE: with the others, every row, none of another shard', async () => {
    const args = ['--config', shardConfig(db, 1), '--catalog', fullTable];
    let chunksDone = 0;
    const killed = await runTapUntilKilled(args, (m) => {
      if (m.type !== 'STATE' || !m.value.bookmarks?.['public-metrics']?.chunks) return false;
      return ++chunksDone >= 3;
    });
    expect(killed.killed, killed.stderr).toBe(true);
    const state = lastState(killed.messages);
    expect(state?.bookmarks['public-metrics'].chunks).toBeDefined();
    const resumed = await runTap([...args, '--state', tmpJson(state)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('public-metrics: FULL_TABLE with reader timescaledb-chunks (resuming)');
    for (const stream of STREAMS) {
      const shard1 = new Set(notesOf(fullRuns[1]!, stream));
      const both = [...notesOf(killed, stream), ...notesOf(resumed, stream)];
      expect(new Set(both), stream).toEqual(shard1);
      for (const other of [0, 2, 3]) {
        const theirs = new Set(notesOf(fullRuns[other]!, stream));
        expect(
          both.filter((n) => theirs.has(n)),
          `${stream}: rows of shard ${other}`,
        ).toEqual([]);
      }
    }
    // the resumed run did not read the chunks done before the kill again
    expect(notesOf(resumed, 'public-metrics').length).toBeLessThan(notesOf(fullRuns[1]!, 'public-metrics').length);
  });

  it('INCREMENTAL: each shard keeps its own bookmark; a chunk created between two runs is read by exactly one shard', async () => {
    const incremental = tmpJson(select(catalog, { 'public-metrics': { discovered: true }, 'public-orders': {} }));
    const first = await Promise.all(
      Array.from({ length: SHARDS }, (_, i) => runTap(['--config', shardConfig(db, i), '--catalog', incremental])),
    );
    for (const run of first) expect(run.code, run.stderr).toBe(0);
    expectExactUnion(first, 'public-metrics', await sourceNotes(db, 'metrics'));
    const marks = first.map((r) => lastState(r.messages)!.bookmarks['public-metrics'].replication_key_value as string);
    expect(new Set(marks).size, 'four shards, four bookmarks').toBe(SHARDS);

    await db.sql(`INSERT INTO metrics SELECT t, d, 0, 'new' || row_number() OVER (ORDER BY t, d)
      FROM generate_series('2024-01-25'::timestamptz, '2024-01-25 23:50'::timestamptz, interval '10 minutes') t, generate_series(1, 4) d`);
    const second = await Promise.all(
      first.map((run, i) =>
        runTap(['--config', shardConfig(db, i), '--catalog', incremental, '--state', tmpJson(lastState(run.messages))]),
      ),
    );
    for (const run of second) expect(run.code, run.stderr).toBe(0);
    const fresh = second.map((r) => notesOf(r, 'public-metrics').filter((n) => n.startsWith('new')));
    expect(fresh.filter((f) => f.length > 0).length, 'shards that read the new chunk').toBe(1);
    expect(fresh.flat().sort()).toEqual((await sourceNotes(db, 'metrics')).filter((n) => n.startsWith('new')));
    // besides the new chunk, a shard reads again only the rows at its bookmark (>=): one timestamp, 4 devices
    for (const run of second) expect(notesOf(run, 'public-metrics').filter((n) => !n.startsWith('new')).length).toBeLessThanOrEqual(4);
  });

  it('refused at start, naming the stream: LOG_BASED, a table without a key; a shard_index outside shard_count', async () => {
    await db.sql(`CREATE TABLE nokey (note text NOT NULL); INSERT INTO nokey VALUES ('k1')`);
    const withNoKey = await discover(tmpJson({ url: db.url }));
    const chosen = select(withNoKey, { 'public-orders': {}, 'public-nokey': {} });
    chosen.streams.find((s) => s.tap_stream_id === 'public-orders')!.metadata.find((m) => m.breadcrumb.length === 0)!.metadata[
      'replication-method'
    ] = 'LOG_BASED';
    const run = await runTap(['--config', shardConfig(db, 0), '--catalog', tmpJson(chosen)]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('stream public-orders is LOG_BASED, which reads one replication slot');
    expect(run.stderr).toContain('stream public-nokey has no key properties to split it into shards by');

    const outside = await runTap(['--config', shardConfig(db, 4), '--catalog', fullTable]);
    expect(outside.code).toBe(2);
    expect(outside.stdout).toBe('');
    expect(outside.stderr).toContain('shard_index 4 is not below shard_count 4');
  });
});

describe('shards on the embedded TimescaleDB 2.23', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await embeddedDatabase();
    await db.sql(`CREATE TABLE metrics (ts timestamptz NOT NULL, device int NOT NULL, note text NOT NULL);
      SELECT create_hypertable('metrics', by_range('ts', interval '1 day'));
      INSERT INTO metrics SELECT t, d, 'm' || row_number() OVER (ORDER BY t, d)
        FROM generate_series('2024-01-01'::timestamptz, '2024-01-08 23:00'::timestamptz, interval '1 hour') t, generate_series(1, 2) d;`);
  });
  afterAll(async () => db?.close());

  it('two shards, one after the other (one connection at a time): 4 chunks each, every row exactly once', async () => {
    const catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-metrics': {} }));
    const runs: TapRun[] = [];
    for (const i of [0, 1])
      runs.push(await runTap(['--config', tmpJson({ url: db.url, shard_index: i, shard_count: 2 }), '--catalog', catalog]));
    for (const [i, run] of runs.entries()) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`public-metrics: shard ${i} of 2: 4 of 8 chunks or partitions`);
    }
    const all = runs.flatMap((r) => notesOf(r, 'public-metrics'));
    expect(all.length).toBe(new Set(all).size);
    expect(all.sort()).toEqual(await sourceNotes(db, 'metrics'));
  });
});
