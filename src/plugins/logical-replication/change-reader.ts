import type { ReadBatch, ReadContext } from '../../core/readers/table-reader.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { qualifiedName, quoteIdent } from '../../core/postgres/sql.js';
import { encodeChanges } from './change-encoder.js';
import { filterChanges } from './change-filter.js';
import { ChangeLines, type UnchangedLookup } from './change-lines.js';
import { liveColumns } from './column-drift.js';
import { formatLsn, parseLsn } from './lsn.js';
import { streamOwns, type RelationMap } from './relation-map.js';
import type { WalMessage } from './wal-stream.js';

/** Rows per `VALUES` round trip (and at most state_every_n_rows). */
const BATCH_ROWS = 2000;

/** Where a read of changes starts: after the transaction ending at `from`, and `skip` changes into the one committing at `tx`. */
export interface ChangePosition {
  readonly from: bigint;
  readonly tx?: bigint;
  readonly skip?: number;
}

/** How the read ended: at `upto`, or at a change the records cannot carry (the stream must be copied again). */
export interface ChangesEnd {
  readonly recopy?: string;
}

/**
 * The changes of one stream committed after `from` and before the run's end position, in commit order,
 * as RECORD batches. `bookmark(position)` is the stream bookmark after them; a batch carries it only once
 * every line before it is written, so a STATE never gets ahead of the records.
 */
export async function* readChanges(
  ctx: ReadContext,
  source: AsyncIterable<WalMessage>,
  upto: bigint,
  relations: RelationMap,
  start: ChangePosition,
  bookmark: (lsn: bigint, tx?: { commit: bigint; changes: number }) => Record<string, unknown>,
): AsyncGenerator<ReadBatch, ChangesEnd> {
  const { plan, log } = ctx;
  let done = start.from;
  let last = bookmark(done, start.tx === undefined ? undefined : { commit: start.tx, changes: start.skip ?? 0 });
  const batchRows = Math.min(BATCH_ROWS, ctx.config.stateEveryNRows);
  const warned = new Set<string>();
  const warn = (m: string): void => {
    if (!warned.has(m)) log.warn(m);
    warned.add(m);
  };
  const live = await ctx.pool.use((c) => liveColumns(c, plan.relation.oid));
  const filtered = (plan.filters?.length ?? 0) > 0;
  const pending = new ChangeLines(plan, relations, live, unchangedLookup(ctx, plan), warn);
  // a connection only while a batch is encoded: the streams of a pass do not hold one each
  // a batch carries the new bookmark only when it is the last of the flush: a STATE between two of them
  // would claim lines not yet written
  const flush = async function* (after: Record<string, unknown>): AsyncGenerator<ReadBatch> {
    const groups = [...pending.groups];
    // each line's operation and position, for record transforms (plan.recordMeta only)
    let meta = plan.recordMeta ? [...pending.meta] : undefined;
    let rows = pending.rows;
    let text = pending.take();
    let held: ReadBatch | undefined;
    const encoding = await ctx.pool.acquire();
    let ok = false;
    try {
      if (filtered) ({ text, rows, meta } = await filterChanges(encoding, plan, text, groups, meta));
      for await (const batch of encodeChanges(ctx.copy, encoding, plan, text, rows, meta)) {
        if (held) yield held;
        held = { ...batch, bookmark: last };
      }
      ok = true;
    } finally {
      ctx.pool.release(encoding, !ok);
    }
    last = after;
    if (held) yield { ...held, bookmark: after };
  };
  {
    // the feed (change-feed.ts) sends only this stream's transactions that commit after `from` and before
    // `upto`, without the rows TimescaleDB moves itself between its compression markers
    let tx: { commit: bigint; at: string; seen: number; resumeAfter: number } | undefined;
    let count = 0;
    for await (const { lsn, message, row } of source) {
      if (row) {
        if (!tx) continue;
        const layout = pending.layout(row.relationOid);
        if (!layout.mine) continue;
        if (layout.compressedChunk) return { recopy: compressedChange(plan, layout.schema, layout.name, row.tag, lsn) };
        if (layout.drift) return { recopy: `${layout.drift}, at ${formatLsn(lsn)}` };
        // a resumed run skips what the STATE it was given covers of the transaction it stopped in
        if (++tx.seen <= tx.resumeAfter) continue;
        const looking = pending.add(layout, row, lsn, tx.at, tx.commit, tx.seen);
        if (looking) await looking;
        count++;
        // within a transaction the bookmark holds the number of its changes written, so a batch ends here as
        // anywhere else: a resumed run skips those changes of the transaction
        if (pending.rows >= batchRows) yield* flush(bookmark(done, { commit: tx.commit, changes: tx.seen }));
        continue;
      }
      switch (message.tag) {
        case 'begin': {
          const commit = parseLsn(message.commitLsn!);
          const resumeAfter = start.tx === commit ? (start.skip ?? 0) : 0;
          tx = { commit, at: commitTime(message.commitTime), seen: 0, resumeAfter };
          break;
        }
        case 'commit':
          if (tx) done = parseLsn(message.commitEndLsn!);
          tx = undefined;
          if (pending.rows >= batchRows) yield* flush(bookmark(done));
          break;
        case 'truncate':
          if (tx) {
            for (const r of message.relations) {
              const rel = r ? await relations.resolve(r.schema, r.name) : undefined;
              if (streamOwns(plan, rel) && !rel.compressedChunk) {
                return { recopy: `${r!.schema}.${r!.name} was truncated at ${formatLsn(tx.commit)} (a TRUNCATE carries no rows)` };
              }
            }
          }
          break;
        case 'relation':
          await pending.relation(message);
          break;
        default:
          // row changes come as `row` above (row-text.ts), never through the library's parser;
          // type descriptions are read by the decoder itself; origins are not used
          break;
      }
    }
    // every transaction committing before `upto` has been read: the next run starts there
    if (upto > done) done = upto;
    yield* flush(bookmark(done));
    log.info(`${plan.tapStreamId}: ${count} change(s) from ${formatLsn(start.from)} to ${formatLsn(upto)}`);
  }
  yield { bytes: Buffer.alloc(0), rows: 0, bookmark: last, checkpoint: true };
  return {};
}

/**
 * Reads by key what an UPDATE left out of the WAL (a TOASTed value it did not touch, with REPLICA
 * IDENTITY DEFAULT or USING INDEX): the value now, in the session's text output, the same text pgoutput
 * and COPY give. It may be newer than the change (a later change of the row is then in the WAL after it).
 */
function unchangedLookup(ctx: ReadContext, plan: StreamPlan): UnchangedLookup {
  const types = new Map(plan.columns.map((c) => [c.name, c.type.sqlType]));
  const where = plan.keyProperties.map((k, i) => `${quoteIdent(k)} = $${i + 1}::${types.get(k) ?? 'text'}`).join(' AND ');
  const table = qualifiedName(plan.relation.schema, plan.relation.name);
  return async (key, columns) => {
    const { rows } = await ctx.pool.use((client) =>
      client.query<(string | null)[]>({
        text: `SELECT ${columns.map(quoteIdent).join(', ')} FROM ${table} WHERE ${where}`,
        values: key as (string | null)[],
        rowMode: 'array',
        types: { getTypeParser: () => (text: string) => text },
      }),
    );
    return rows[0];
  };
}

/** A commit time (µs since 1970) as PostgreSQL prints a timestamptz in UTC: `2024-01-01 10:00:00.123456+00`. */
function commitTime(micros: unknown): string {
  const us = BigInt(micros as bigint);
  const seconds = new Date(Number(us / 1000000n) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const fraction = (us % 1000000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${seconds}${fraction ? `.${fraction}` : ''}+00`;
}

function compressedChange(plan: StreamPlan, schema: string, chunk: string, tag: string, lsn: bigint): string {
  const [what, setting] =
    tag === 'insert'
      ? [
          'rows were written compressed directly',
          'timescaledb.enable_direct_compress_insert and timescaledb.enable_direct_compress_copy = off',
        ]
      : ['whole compressed batches were changed directly', 'timescaledb.enable_compressed_direct_batch_delete = off'];
  return `hypertable ${plan.relation.schema}.${plan.relation.name} has compressed chunk ${schema}.${chunk} where ${what} at ${formatLsn(lsn)} (${tag.toUpperCase()} outside TimescaleDB's compression markers: the WAL holds compressed batches, not rows; set ${setting} for the writers to avoid copies)`;
}
