import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeSkipReason, nativeTimescaleSkipReason } from '../helpers/databases.js';
import { selectLogBased } from '../helpers/log-based.js';
import { discover, lastState, records, runTap, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import { streamMetadata } from '../../src/core/singer/catalog.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';
import { startOwnReplica, type OwnReplica } from './own-replica.js';
import { TapProcess, until } from './tap-process.js';

const DB = 'standby_test';
const ROWS = 100_000; // ~2,600 pages: page ranges of 1,024 pages, read ahead on a second connection

/**
 * FULL_TABLE and INCREMENTAL from a hot standby: a streaming replica (pg_basebackup -R) of a cluster of
 * this file's own. A standby takes no writes, and LOG_BASED needs the primary (logical decoding on a
 * standby is PostgreSQL 16+).
 */
describe.skipIf(nativeSkipReason)('a hot standby (a streaming replica of a cluster of this file)', () => {
  let primary: OwnCluster;
  let replica: OwnReplica;
  const config = (extra: Record<string, unknown> = {}): string => tmpJson({ url: replica.url(DB), sslmode: 'disable', ...extra });
  beforeAll(async () => {
    primary = startOwnCluster();
    await primary.sql(`CREATE DATABASE ${DB}`);
    await primary.sql(
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
       INSERT INTO items SELECT g, 'item ' || g, '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 20000) g;
       CREATE TABLE shuffled (id int PRIMARY KEY, payload text NOT NULL);
       INSERT INTO shuffled SELECT g, md5(g::text) || repeat('p', 150) FROM generate_series(1, ${ROWS}) g ORDER BY random();
       CREATE TABLE keyless (n int, t text);
       INSERT INTO keyless SELECT g, 't' || g FROM generate_series(1, 100) g;
       ANALYZE`,
      [],
      DB,
    );
    if (!nativeTimescaleSkipReason) {
      await primary.sql(
        `CREATE EXTENSION timescaledb;
         CREATE TABLE metrics (at timestamptz NOT NULL, device int NOT NULL, v double precision);
         SELECT create_hypertable('metrics', 'at', chunk_time_interval => interval '1 day');
         INSERT INTO metrics SELECT '2026-01-01'::timestamptz + g * interval '1 hour', g % 5, g FROM generate_series(0, 24 * 5 - 1) g`,
        [],
        DB,
      );
    }
    replica = await startOwnReplica(primary);
  }, 120_000);
  afterAll(() => {
    replica?.destroy();
    primary?.destroy();
  });

  it('the replica is a standby', async () => {
    expect((await replica.sql<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
  });

  it('discovery (no LOG_BASED offered), FULL_TABLE in key order, in page ranges read ahead in an exported snapshot, and keyless', async () => {
    const path = config({ state_every_n_rows: 1000 });
    const catalog = await discover(path);
    const ids = catalog.streams.map((s) => s.tap_stream_id).sort();
    expect(ids).toEqual(expect.arrayContaining(['public-items', 'public-keyless', 'public-shuffled']));
    expect(streamMetadata(streamEntry(catalog, 'public-items'))['valid-replication-methods']).toEqual(['FULL_TABLE', 'INCREMENTAL']);
    const selected = select(catalog, { 'public-items': {}, 'public-shuffled': {}, 'public-keyless': {} });
    const r = await runTap(['--config', path, '--catalog', tmpJson(selected)]);
    expect(r.code, r.stderr).toBe(0);
    // pg_export_snapshot() works on a PostgreSQL 15 standby (importable there): the read-ahead connection shares the snapshot
    expect(r.stderr).toMatch(/public-shuffled: reading the next page range ahead on a second connection/);
    expect(records(r.messages, 'public-items').map((x) => x.id)).toEqual(Array.from({ length: 20000 }, (_, i) => i + 1));
    const shuffled = records(r.messages, 'public-shuffled').map((x) => x.id as number);
    expect(shuffled).toHaveLength(ROWS);
    expect(new Set(shuffled).size).toBe(ROWS);
    expect(records(r.messages, 'public-keyless')).toHaveLength(100);
  });

  it('INCREMENTAL from the standby: a second run after rows inserted on the primary and replayed', async () => {
    const path = config();
    const catalog = tmpJson(select(await discover(path), { 'public-items': { method: 'INCREMENTAL', key: 'updated_at' } }));
    const first = await runTap(['--config', path, '--catalog', catalog]);
    expect(first.code, first.stderr).toBe(0);
    expect(records(first.messages)).toHaveLength(20000);
    await primary.sql(`INSERT INTO items VALUES (20001, 'new', '2027-01-01'), (20002, 'newer', '2027-01-02')`, [], DB);
    await replica.caughtUp();
    const second = await runTap(['--config', path, '--catalog', catalog, '--state', tmpJson(lastState(first.messages))]);
    expect(second.code, second.stderr).toBe(0);
    expect(records(second.messages).map((r) => r.id)).toEqual([20000, 20001, 20002]);
  });

  it.skipIf(!!nativeTimescaleSkipReason)('a TimescaleDB hypertable from the standby: chunk by chunk, consistent_snapshot too', async () => {
    for (const consistent of [false, true]) {
      const path = config({ consistent_snapshot: consistent });
      const catalog = await discover(path);
      const r = await runTap(['--config', path, '--catalog', tmpJson(select(catalog, { 'public-metrics': { discovered: true } }))]);
      expect(r.code, r.stderr).toBe(0);
      expect(records(r.messages)).toHaveLength(120);
    }
  });

  it('LOG_BASED against the standby: exit 2 before any output, naming the primary', async () => {
    const path = config();
    const r = await runTap(['--config', path, '--catalog', tmpJson(selectLogBased(await discover(path), ['public-items']))]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      new RegExp(
        `^CRITICAL LOG_BASED needs the primary: this server is a hot standby .* Point host and port at the primary \\(127\\.0\\.0\\.1:${primary.port}, as this standby streams from it\\) for LOG_BASED streams, or read them FULL_TABLE or INCREMENTAL from the standby$`,
        'm',
      ),
    );
  });

  it('a read cancelled by a conflict with recovery (rows its snapshot sees vacuumed away on the primary): retried from the last page range, no row lost', async () => {
    await replica.sql('ALTER SYSTEM SET max_standby_streaming_delay = 0');
    await replica.sql('SELECT pg_reload_conf()');
    // a cancelled read leaves its transaction aborted until the tap reads the error (the conflict
    // counters are flushed only after that): either shows the cancel
    const cancelled = async (): Promise<boolean> =>
      (
        await replica.sql<{ yes: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'tap-timescaledb%' AND state = 'idle in transaction (aborted)')
               OR (SELECT confl_snapshot + confl_bufferpin + confl_lock > 0 FROM pg_stat_database_conflicts WHERE datname = $1) AS yes`,
          [DB],
        )
      )[0]!.yes;
    try {
      const path = config({ state_every_n_rows: 1000, retry_initial_delay_ms: 200 });
      const catalog = tmpJson(select(await discover(path), { 'public-shuffled': {} }));
      const tap = new TapProcess(['--config', path, '--catalog', catalog]);
      await tap.waitFor((m) => m.type === 'RECORD');
      tap.pause();
      // new versions of half the rows (at the end of the table), and the old ones vacuumed: replaying that cancels the read
      await primary.sql('UPDATE shuffled SET payload = payload WHERE id % 2 = 0', [], DB);
      await primary.sql('VACUUM shuffled', [], DB);
      // the replay reaches the VACUUM and waits for the read: a backend blocked sending COPY data takes the
      // cancel only once it can write again, so wait for either the cancel or a replay stalled at the VACUUM
      const [{ lsn }] = await primary.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      let stalledSince = 0;
      let lastVacuum = Date.now();
      await until(async () => {
        if (await cancelled()) return true;
        // a transaction of the primary's own (TimescaleDB's job scheduler) may have kept the old rows: vacuum again
        if (Date.now() - lastVacuum > 1000 && !stalledSince) {
          await primary.sql('VACUUM shuffled', [], DB);
          lastVacuum = Date.now();
        }
        const [{ stuck }] = await replica.sql<{ stuck: boolean }>(
          'SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AND pg_last_wal_replay_lsn() < $1::pg_lsn AS stuck',
          [lsn],
        );
        stalledSince = stuck ? stalledSince || Date.now() : 0;
        return stalledSince > 0 && Date.now() - stalledSince > 1000 ? true : undefined;
      }, 'the standby to cancel the read or to stall its replay at the VACUUM');
      tap.resume();
      const { code } = await tap.exited;
      expect(code, tap.stderr).toBe(0);
      expect(tap.stderr).toMatch(
        /public-shuffled: .*conflict with recovery.*set hot_standby_feedback = on or raise max_standby_streaming_delay on the standby; retry 1\/4 in 200 ms from the last bookmark/,
      );
      const ids = records(tap.messages).map((r) => r.id as number);
      expect(new Set(ids).size).toBe(ROWS);
      // a row read before the cancel and moved by the UPDATE comes again: FULL_TABLE's ACTIVATE_VERSION makes the target exact
      console.log(`recovery conflict: ${ids.length - ROWS} rows read twice of ${ROWS}`);
    } finally {
      await replica.sql('ALTER SYSTEM RESET max_standby_streaming_delay');
      await replica.sql('SELECT pg_reload_conf()');
    }
  });
});
