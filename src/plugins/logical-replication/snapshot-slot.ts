import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ConnectionSettings } from '../../core/config/tap-config.js';
import { replicationClientConfig, translateQueryError } from '../../core/postgres/connection-pool.js';
import { parseLsn } from './lsn.js';

/** A snapshot exported by a replication slot, valid while the slot's connection stays idle. */
export interface ExportedSnapshot {
  readonly snapshot: string;
  /** the slot's consistent point: transactions committing before it are in the snapshot, the rest in the WAL after it */
  readonly lsn: bigint;
  close(): Promise<void>;
}

/**
 * Creates a TEMPORARY logical slot with an exported snapshot, on a replication connection. An initial
 * copy read in that snapshot sees exactly the transactions committed before the slot's consistent point,
 * and the persistent slot (created earlier, so it holds the WAL from before that point) yields exactly the
 * ones after it: nothing missed, nothing doubled. Temporary, so a crash leaves no slot holding WAL; a
 * stream added to the catalog later gets its own. The snapshot lives until `close()` (or the connection
 * runs another command), so the copy must finish first.
 * https://www.postgresql.org/docs/current/protocol-replication.html#PROTOCOL-REPLICATION-CREATE-REPLICATION-SLOT
 */
export async function exportSnapshot(settings: ConnectionSettings): Promise<ExportedSnapshot> {
  const client = new pg.Client(replicationClientConfig(settings, 'initial copy'));
  client.on('error', () => undefined);
  try {
    await client.connect();
    const name = `tap_timescaledb_copy_${randomBytes(6).toString('hex')}`;
    const { rows } = await client.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${name} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    return {
      snapshot: rows[0]!.snapshot_name,
      lsn: parseLsn(rows[0]!.consistent_point),
      close: () => client.end().catch(() => undefined),
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw translateQueryError(err, 'creating a replication slot with an exported snapshot for the initial copy');
  }
}
