import type pg from 'pg';
import type { Logger } from '../../core/logger.js';
import type { ConnectionPool } from '../../core/postgres/connection-pool.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';

/**
 * `consistent_snapshot`: one REPEATABLE READ transaction, opened at the first chunk read and held until
 * the sync ends, exports its snapshot (pg_export_snapshot); every chunk read imports it with
 * `SET TRANSACTION SNAPSHOT`, so all chunks, read one after another or in parallel, see the database
 * as of the export. https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION
 *
 * Limits: it holds one extra connection and an open transaction (vacuum keeps dead rows meanwhile);
 * TimescaleDB's catalog is not MVCC: chunks are listed as they are now, so a chunk created after the
 * export reads empty and one dropped after it is gone; compressing or decompressing a chunk during the
 * sync can hide its rows from a REPEATABLE READ snapshot (timescaledb#6841, #6842). If the exporting
 * connection is lost, the next read exports a new snapshot, with a warning.
 */
export class SnapshotExporter {
  private exporting?: Promise<{ client: pg.PoolClient; id: string }>;
  private lost = false;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly log: Logger,
  ) {}

  /** The snapshot id, exporting it on first use. */
  async id(): Promise<string> {
    if (this.lost) {
      this.log.warn('consistent_snapshot: the exporting connection was lost; chunks read from now on see a newer snapshot');
      this.lost = false;
      this.exporting = undefined;
    }
    this.exporting ??= this.export();
    return (await this.exporting).id;
  }

  private async export(): Promise<{ client: pg.PoolClient; id: string }> {
    const client = await this.pool.acquire();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // the transaction waits idle between chunk reads: a server-wide idle timeout must not end it
      await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      const { rows } = await client.query<{ id: string; at: string }>('SELECT pg_export_snapshot() AS id, now()::text AS at');
      client.on('error', () => {
        this.lost = true;
      });
      this.log.info(`consistent_snapshot: every chunk of this sync reads snapshot ${rows[0]!.id} (the database as of ${rows[0]!.at})`);
      return { client, id: rows[0]!.id };
    } catch (err) {
      this.pool.release(client, true);
      this.exporting = undefined;
      throw translateQueryError(err, 'exporting a snapshot (consistent_snapshot)');
    }
  }

  /** Ends the exporting transaction and returns its connection (at the end of the sync). */
  async close(): Promise<void> {
    const exporting = this.exporting;
    this.exporting = undefined;
    if (!exporting) return;
    const { client } = await exporting.catch(() => ({ client: undefined }));
    if (!client) return;
    let ok = false;
    try {
      await client.query('COMMIT');
      ok = true;
    } catch {
      /* the connection is gone: nothing to end */
    } finally {
      this.pool.release(client, !ok);
    }
  }
}
