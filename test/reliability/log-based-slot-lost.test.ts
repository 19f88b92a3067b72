import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeSkipReason } from '../helpers/databases.js';
import { logBasedTap } from '../helpers/log-based.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';

/**
 * A slot the server invalidated (max_slot_wal_keep_size: the WAL it needed is gone) stops the tap with the
 * reason and the fix instead of a gap. On a cluster of this file's own: the setting is server-wide.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED with an invalidated slot (own cluster)', () => {
  let cluster: OwnCluster;
  beforeAll(async () => {
    cluster = startOwnCluster();
    await cluster.sql(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
    await cluster.sql('SELECT pg_reload_conf()');
    await cluster.sql('CREATE TABLE t (id int PRIMARY KEY)');
  });
  afterAll(() => cluster?.destroy());

  it('exit 2 naming the slot, the cause and the fix', async () => {
    const db = { url: cluster.adminUrl, kind: 'native' as const, sql: cluster.sql, close: async () => undefined };
    const tap = await logBasedTap(db, ['public-t']);
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    for (let i = 1; i <= 3; i++) {
      await cluster.sql(`INSERT INTO t SELECT g FROM generate_series(${i * 100000}, ${i * 100000 + 99999}) g`);
      await cluster.sql('SELECT pg_switch_wal()');
      await cluster.sql('CHECKPOINT');
    }
    const [{ status }] = await cluster.sql(
      `SELECT wal_status AS status FROM pg_replication_slots WHERE slot_name = 'tap_timescaledb_postgres'`,
    );
    expect(status).toBe('lost');
    const run = await tap.run(first.state);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /CRITICAL replication slot tap_timescaledb_postgres was invalidated: the server removed WAL it still needed \(max_slot_wal_keep_size\).*Remove the lsn bookmark of public-t/,
    );
  });
});
