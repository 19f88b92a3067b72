import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { change, dropSlots, logBasedTap, withKeys } from '../helpers/log-based.js';
import { singerProblems } from '../helpers/singer-rules.js';

/**
 * LOG_BASED on native TimescaleDB 2.28 (logical replication needs the server: the embedded engine has no
 * walsender). Logical decoding reports a hypertable's changes on its chunks and TimescaleDB's own
 * compression as deletes and inserts between WAL markers: the tap maps chunks to the hypertable and
 * emits exactly the users' changes.
 */
describe.skipIf(!!nativeTimescaleSkipReason)('LOG_BASED on hypertables (native TimescaleDB)', () => {
  let db: TestDatabase;
  let dbName: string;
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
    dbName = new URL(db.url).pathname.slice(1);
    // deletes of whole compressed batches must decompress first, or the WAL holds no rows for them
    await db.sql(`ALTER DATABASE ${dbName} SET timescaledb.enable_compressed_direct_batch_delete = off`);
    await db.sql(`SET timescaledb.enable_compressed_direct_batch_delete = off`);
    await db.sql(`
      CREATE TABLE m (ts timestamptz NOT NULL, device int NOT NULL, v double precision, PRIMARY KEY (device, ts));
      SELECT create_hypertable('m', by_range('ts', interval '1 day'));
      ALTER TABLE m SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
      INSERT INTO m SELECT t, d, 1 FROM generate_series('2024-01-01'::timestamptz, '2024-01-04 23:00', interval '1 hour') t, generate_series(1, 3) d;
      SELECT compress_chunk(c) FROM show_chunks('m', older_than => '2024-01-02'::timestamptz) c;
      CREATE TABLE s (ts timestamptz NOT NULL, device int NOT NULL, note text, PRIMARY KEY (device, ts));
      SELECT create_hypertable('s', by_range('ts', interval '1 day'));
      SELECT add_dimension('s', by_hash('device', 2));
      INSERT INTO s SELECT t, d, 'n' FROM generate_series('2024-01-01'::timestamptz, '2024-01-02 23:00', interval '1 hour') t, generate_series(1, 4) d;`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('copies chunk by chunk, then emits user changes on new, old, compressed and space-partitioned chunks once; compression moves and drop_chunks emit nothing', async () => {
    const tap = await logBasedTap(db, ['public-m', 'public-s']);
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/public-m: initial copy with reader timescaledb-chunks/);
    expect(first.recs.filter((r) => 'v' in r)).toHaveLength(4 * 24 * 3);
    expect(first.recs.filter((r) => 'note' in r)).toHaveLength(2 * 24 * 4);

    await db.sql(`
      INSERT INTO m VALUES ('2024-01-10 00:00', 1, 10);
      UPDATE m SET v = 2 WHERE device = 2 AND ts = '2024-01-03 05:00';
      UPDATE m SET v = 3 WHERE device = 1 AND ts = '2024-01-01 05:00';
      DELETE FROM m WHERE device = 3 AND ts = '2024-01-01 06:00';
      DELETE FROM m WHERE device = 2 AND ts < '2024-01-02';
      SELECT compress_chunk(c) FROM show_chunks('m', older_than => '2024-01-04'::timestamptz) c;
      SELECT decompress_chunk(c) FROM show_chunks('m', newer_than => '2024-01-03'::timestamptz, older_than => '2024-01-04'::timestamptz) c;
      SELECT drop_chunks('m', older_than => '2024-01-02'::timestamptz);
      INSERT INTO s VALUES ('2024-01-02 00:30', 1, 'a'), ('2024-01-02 00:30', 2, 'b'), ('2024-01-05 00:00', 3, 'new chunk');
      UPDATE s SET note = 'u' WHERE device IN (3, 4) AND ts = '2024-01-01 00:00';`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(singerProblems(second.stdout)).toEqual([]);
    const m = second.messages.filter((x) => x.type === 'RECORD' && x.stream === 'public-m').map((x) => change(x.record));
    expect(m.slice(0, 4)).toEqual([
      { ts: '2024-01-10T00:00:00Z', device: 1, v: 10, deleted: false },
      { ts: '2024-01-03T05:00:00Z', device: 2, v: 2, deleted: false },
      { ts: '2024-01-01T05:00:00Z', device: 1, v: 3, deleted: false },
      { ts: '2024-01-01T06:00:00Z', device: 3, v: null, deleted: true },
    ]);
    // a delete on a compressed chunk decompresses the batch first (setting off): one record per deleted row
    expect(m.slice(4)).toHaveLength(24);
    expect(m.slice(4).every((r) => r.device === 2 && r.deleted && r.v === null)).toBe(true);
    const s = second.messages.filter((x) => x.type === 'RECORD' && x.stream === 'public-s').map((x) => change(x.record));
    expect(s).toEqual([
      { ts: '2024-01-02T00:30:00Z', device: 1, note: 'a', deleted: false },
      { ts: '2024-01-02T00:30:00Z', device: 2, note: 'b', deleted: false },
      { ts: '2024-01-05T00:00:00Z', device: 3, note: 'new chunk', deleted: false },
      { ts: '2024-01-01T00:00:00Z', device: 3, note: 'u', deleted: false },
      { ts: '2024-01-01T00:00:00Z', device: 4, note: 'u', deleted: false },
    ]);

    // a compression policy's job between runs: nothing
    await db.sql(`SELECT add_compression_policy('m', compress_after => interval '1 day')`);
    const [{ job }] = await db.sql(
      `SELECT job_id AS job FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' AND hypertable_name = 'm'`,
    );
    await db.sql(`CALL run_job(${Number(job)})`);
    const [{ n }] = await db.sql(
      `SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'm' AND is_compressed`,
    );
    expect(n).toBeGreaterThan(0);
    const third = await tap.run(second.state);
    expect(third.code, third.stderr).toBe(0);
    expect(third.recs).toEqual([]);
  });

  it('rows written compressed directly (outside the markers): the stream is copied again under a new version, naming the hypertable, the chunk and the setting', async () => {
    await db.sql(`
      CREATE TABLE d (ts timestamptz NOT NULL, device int NOT NULL, v int);
      SELECT create_hypertable('d', by_range('ts', interval '1 day'));
      ALTER TABLE d REPLICA IDENTITY FULL;
      ALTER TABLE d SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
      INSERT INTO d VALUES ('2024-01-01', 1, 1);`);
    // no unique index (direct compression needs none), so the key is declared in the catalog, as a user would
    const tap = await logBasedTap(db, ['public-d'], { replication_slot: 'tap_direct' }, withKeys('public-d', ['ts', 'device']));
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    // TimescaleDB 2.28 can compress rows as they are inserted (not into a table with a unique index): the WAL
    // then has one compressed batch, no rows
    await db.sql(`SET timescaledb.enable_direct_compress_insert = on;
      INSERT INTO d SELECT t, 2, 1 FROM generate_series('2024-02-01'::timestamptz, '2024-02-01 23:00', interval '1 hour') t;
      RESET timescaledb.enable_direct_compress_insert`);
    const [{ chunk }] = await db.sql(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk FROM timescaledb_information.chunks WHERE hypertable_name = 'd' AND is_compressed`,
    );
    const [{ compressed }] = await db.sql(
      `SELECT format('%I.%I', c2.schema_name, c2.table_name) AS compressed FROM _timescaledb_catalog.chunk c1 JOIN _timescaledb_catalog.chunk c2 ON c2.id = c1.compressed_chunk_id WHERE format('%I.%I', c1.schema_name, c1.table_name) = $1`,
      [chunk],
    );
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(
      new RegExp(
        `WARN public-d: hypertable public.d has compressed chunk ${String(compressed).replace('.', '\\.')} where rows were written compressed directly .*enable_direct_compress_insert.*copied again under a new table version`,
      ),
    );
    // the whole hypertable again under a new version, activated after it: the target gets the 24 compressed rows
    expect(second.recs).toHaveLength(25);
    const v2 = second.state!.bookmarks['public-d'].version as number;
    expect(v2).toBeGreaterThan(first.state!.bookmarks['public-d'].version as number);
    expect(second.messages.filter((m) => m.type === 'ACTIVATE_VERSION').map((m) => m.version)).toEqual([v2, v2]);
    const third = await tap.run(second.state);
    expect(third.code, third.stderr).toBe(0);
    expect(third.recs).toEqual([]);
  });

  it('a writer that turns direct batch deletes on in its own session: the deleted batches are seen, and the stream is copied again under a new version', async () => {
    await db.sql(`
      CREATE TABLE w (ts timestamptz NOT NULL, device int NOT NULL, v int, PRIMARY KEY (device, ts));
      SELECT create_hypertable('w', by_range('ts', interval '1 day'));
      ALTER TABLE w SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
      INSERT INTO w SELECT t, d, 1 FROM generate_series('2024-01-01'::timestamptz, '2024-01-02 23:00', interval '1 hour') t, generate_series(1, 4) d;
      SELECT compress_chunk(c) FROM show_chunks('w') c;`);
    const tap = await logBasedTap(db, ['public-w'], { replication_slot: 'tap_batches' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.recs).toHaveLength(2 * 24 * 4);
    // a delete that decompresses first (the database's setting): rows in the WAL, one record each, no copy
    await db.sql(`DELETE FROM w WHERE device = 4 AND ts < '2024-01-01 03:00'`);
    const second = await tap.run(first.state);
    expect(second.code, second.stderr).toBe(0);
    expect(second.recs.map(change)).toHaveLength(3);
    expect(second.stderr).not.toMatch(/copied again/);
    // whole batches deleted directly: no rows in what pgoutput sends
    await db.sql(`SET timescaledb.enable_compressed_direct_batch_delete = on; DELETE FROM w WHERE device = 1;
      RESET timescaledb.enable_compressed_direct_batch_delete; INSERT INTO w VALUES ('2024-01-05', 9, 9)`);
    const third = await tap.run(second.state);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(
      /WARN public-w: whole compressed batches were deleted directly .* in _timescaledb_internal\.compress_hyper_\d+_\d+_chunk at .*copied again under a new table version/,
    );
    const [{ n }] = await db.sql(`SELECT count(*)::int AS n FROM w`);
    expect(third.recs).toHaveLength(n as number);
    expect(third.recs.some((r) => r.device === 1)).toBe(false);
    expect(third.messages.filter((m) => m.type === 'ACTIVATE_VERSION')).toHaveLength(2);
    const fourth = await tap.run(third.state);
    expect(fourth.code, fourth.stderr).toBe(0);
    expect(fourth.recs).toEqual([]);

    // the watching slot gone (dropped by hand; or a slot from before the tap watched): what it missed is
    // unknown, so the stream is copied once more, and watched from then on
    await db.sql(`SELECT pg_drop_replication_slot('tap_batches_batch')`);
    const fifth = await tap.run(fourth.state);
    expect(fifth.code, fifth.stderr).toBe(0);
    expect(fifth.stderr).toMatch(
      /WARN public-w: its hypertable is compressed and replication slot tap_batches_batch is new.*copied again under a new table version/,
    );
    expect(fifth.recs).toHaveLength(n as number);
    const sixth = await tap.run(fifth.state);
    expect(sixth.recs).toEqual([]);
  });

  it("a DBA's publication FOR TABLE on a hypertable: exit 2 before any output, since chunks created later are published only by schema", async () => {
    await db.sql(`CREATE PUBLICATION dba_m FOR TABLE m`);
    const run = await (await logBasedTap(db, ['public-m'], { replication_slot: 'tap_dba_m', publication: 'dba_m' })).run();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /CRITICAL publication dba_m does not publish the chunk schema\(s\) _timescaledb_internal of hypertable "public"."m" .*ALTER PUBLICATION "dba_m" ADD TABLES IN SCHEMA "_timescaledb_internal"/,
    );
  });

  it('the tap does not publish a chunk schema where a hypertable without replica identity would have its UPDATE and DELETE rejected', async () => {
    await db.sql(`CREATE TABLE k (ts timestamptz NOT NULL, v int);
      SELECT create_hypertable('k', by_range('ts', interval '1 day'));
      INSERT INTO k VALUES ('2024-01-01', 1), ('2024-01-02', 2);`);
    const tap = await logBasedTap(db, ['public-s'], { replication_slot: 'tap_guard', publication: 'tap_guard' });
    const refused = await tap.run();
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /CRITICAL public-s: publishing schema\(s\) _timescaledb_internal in tap_guard would make PostgreSQL reject UPDATE and DELETE on the tables there without a replica identity: public\.k\. Have a DBA run ALTER TABLE public\.k REPLICA IDENTITY FULL/,
    );
    expect(await db.sql(`SELECT pubname FROM pg_publication WHERE pubname = 'tap_guard'`)).toEqual([]);
    // with the statement it names, the chunks take the hypertable's replica identity: writers keep working
    await db.sql(`ALTER TABLE k REPLICA IDENTITY FULL`);
    const ok = await tap.run();
    expect(ok.code, ok.stderr).toBe(0);
    await db.sql(`UPDATE k SET v = 3 WHERE v = 1; DELETE FROM k WHERE v = 2`);
    expect(await db.sql(`SELECT v FROM k`)).toEqual([{ v: 3 }]);
  });

  it('a compressed hypertable with direct batch deletes on: exit 2 before any output, with the setting to change', async () => {
    await db.sql(`ALTER DATABASE ${dbName} RESET timescaledb.enable_compressed_direct_batch_delete`);
    try {
      const tap = await logBasedTap(db, ['public-m'], { replication_slot: 'tap_never' });
      const run = await tap.run();
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        /CRITICAL public-m has compression.*ALTER DATABASE \S+ SET timescaledb.enable_compressed_direct_batch_delete = off/,
      );
    } finally {
      await db.sql(`ALTER DATABASE ${dbName} SET timescaledb.enable_compressed_direct_batch_delete = off`);
    }
  });
});
