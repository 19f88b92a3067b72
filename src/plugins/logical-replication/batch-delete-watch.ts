import type pg from 'pg';
import type { Logger } from '../../core/logger.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';
import { formatLsn, parseLsn } from './lsn.js';
import type { RelationMap } from './relation-map.js';

/** A transaction that deleted whole compressed batches directly: where it ends, and the compressed chunks. */
export interface BatchDelete {
  readonly commitEnd: bigint;
  readonly chunks: readonly { readonly schema: string; readonly name: string }[];
}

const ROWLESS_DELETE = /^table ([^ ]+)\.(compress_hyper_\d+_\d+_chunk): DELETE: \(no-tuple-data\)$/;

/**
 * Whole compressed batches deleted without decompressing them (a session with
 * timescaledb.enable_compressed_direct_batch_delete = on) leave a row-less delete of the compressed chunk
 * in the WAL, which pgoutput drops (the compressed chunk has no replica identity to send). test_decoding
 * prints it as `DELETE: (no-tuple-data)`, so a second slot with test_decoding, created and confirmed with
 * the tap's own, shows which transactions did it: outside TimescaleDB's (de)compression markers, such a
 * delete is a user's, and the hypertable's rows it removed are in no change the tap reads. Only runs that
 * read a compressed hypertable LOG_BASED ask; the server decodes their range a second time for it.
 */
export class BatchDeleteWatch {
  private scanned?: Promise<BatchDelete[]>;

  constructor(
    readonly slot: string,
    private readonly log: Logger,
  ) {}

  /**
   * Creates the watching slot when it is missing. Returns false when, in this run, it was missing beside a
   * slot of the tap's that existed: what that slot holds from before cannot be watched.
   */
  async ensure(c: pg.ClientBase, mainExisted: boolean): Promise<boolean> {
    if (this.covers !== undefined) return this.covers;
    this.covers = await this.create(c, mainExisted);
    return this.covers;
  }

  private covers?: boolean;

  private async create(c: pg.ClientBase, mainExisted: boolean): Promise<boolean> {
    const { rows } = await c.query<{ lost: boolean }>(`SELECT wal_status = 'lost' AS lost FROM pg_replication_slots WHERE slot_name = $1`, [
      this.slot,
    ]);
    if (rows[0] && !rows[0].lost) return true;
    if (rows[0]) await c.query('SELECT pg_drop_replication_slot($1)', [this.slot]);
    try {
      const made = await c.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'test_decoding')`, [
        this.slot,
      ]);
      this.log.info(
        `created replication slot ${this.slot} (test_decoding) at ${made.rows[0]!.lsn}: it shows whole compressed batches deleted directly, which pgoutput does not send`,
      );
    } catch (err) {
      throw translateQueryError(
        err,
        `creating replication slot ${this.slot} (test_decoding), which watches for whole compressed batches deleted directly`,
      );
    }
    return !mainExisted;
  }

  /** Lets the watching slot release the WAL up to where the tap's own slot was confirmed. */
  async advance(c: pg.ClientBase, to: bigint): Promise<void> {
    const { rows } = await c.query<{ confirmed: string | null }>(
      `SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`,
      [this.slot],
    );
    const at = rows[0]?.confirmed;
    if (!at || parseLsn(at) >= to) return;
    await c.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [this.slot, formatLsn(to)]);
  }

  /** The transactions up to `upto` that deleted compressed batches directly, read once per run. */
  deletes(c: () => Promise<pg.ClientBase>, upto: bigint, release: (c: pg.ClientBase) => void): Promise<BatchDelete[]> {
    this.scanned ??= (async () => {
      const client = await c();
      try {
        return await this.scan(client, upto);
      } finally {
        release(client);
      }
    })();
    return this.scanned;
  }

  /** The ones of them that removed rows of this hypertable, committed after `from`. */
  async forHypertable(all: readonly BatchDelete[], from: bigint, relations: RelationMap, schema: string, name: string): Promise<string[]> {
    const chunks: string[] = [];
    for (const d of all) {
      if (d.commitEnd <= from) continue;
      for (const chunk of d.chunks) {
        const owner = await relations.resolve(chunk.schema, chunk.name);
        if (owner?.schema === schema && owner.name === name) chunks.push(`${chunk.schema}.${chunk.name} at ${formatLsn(d.commitEnd)}`);
      }
    }
    return chunks;
  }

  private async scan(c: pg.ClientBase, upto: bigint): Promise<BatchDelete[]> {
    // only the row-less deletes of compressed chunks, TimescaleDB's markers, and the commits of their transactions cross the wire
    const { rows } = await c.query<{ lsn: string; xid: string; data: string }>(
      `WITH c AS MATERIALIZED (
         SELECT lsn, xid, data, n FROM pg_logical_slot_peek_changes($1, $2::pg_lsn, NULL, 'include-xids', '1', 'skip-empty-xacts', '1')
           WITH ORDINALITY AS t(lsn, xid, data, n)),
       e AS (SELECT * FROM c WHERE data LIKE 'table %.compress\\_hyper\\_%: DELETE: (no-tuple-data)' OR data LIKE 'message: transactional: 1 prefix: ::timescaledb-%')
       SELECT lsn::text, xid::text, data FROM (
         SELECT * FROM e UNION ALL SELECT * FROM c WHERE data LIKE 'COMMIT %' AND xid IN (SELECT xid FROM e)) x
       ORDER BY n`,
      [this.slot, formatLsn(upto)],
    );
    const open = new Map<string, { markers: number; chunks: { schema: string; name: string }[] }>();
    const found: BatchDelete[] = [];
    for (const r of rows) {
      const tx = open.get(r.xid) ?? { markers: 0, chunks: [] };
      open.set(r.xid, tx);
      if (r.data.startsWith('message:')) {
        if (/-start, sz/.test(r.data)) tx.markers++;
        else if (/-end, sz/.test(r.data)) tx.markers = Math.max(0, tx.markers - 1);
      } else if (r.data.startsWith('COMMIT')) {
        if (tx.chunks.length > 0) found.push({ commitEnd: parseLsn(r.lsn), chunks: tx.chunks });
        open.delete(r.xid);
      } else if (tx.markers === 0) {
        const m = ROWLESS_DELETE.exec(r.data);
        if (m && !tx.chunks.some((c) => c.schema === unquote(m[1]!) && c.name === m[2]))
          tx.chunks.push({ schema: unquote(m[1]!), name: m[2]! });
      }
    }
    return found;
  }
}

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/** The watching slot's name beside the tap's own: at most 63 characters. */
export function watchSlotName(slot: string): string {
  return `${slot.slice(0, 57)}_batch`;
}
