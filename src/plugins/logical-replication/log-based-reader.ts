import { FatalSyncError, StateError } from '../../core/errors.js';
import type { ReaderRegistry } from '../../core/readers/reader-registry.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { ReadBatch, ReadContext, TableReader } from '../../core/readers/table-reader.js';
import { withCopyLsn } from './change-columns.js';
import { encodeChanges } from './change-encoder.js';
import { ChangeLines } from './change-lines.js';
import { bookmarkLsn, formatLsn, parseLsn } from './lsn.js';
import type { RelationMap } from './relation-map.js';
import type { ReplicationService } from './replication-service.js';
import { exportSnapshot } from './snapshot-slot.js';
import { walMessages } from './wal-changes.js';

export interface LogBasedReaderDeps {
  readonly service: ReplicationService;
  readonly relations: RelationMap;
  /** the registry, to find the reader of the initial copy (the chunk reader for a hypertable) */
  registry(): ReaderRegistry;
}

/** Rows per `VALUES` round trip (and at most state_every_n_rows). */
const BATCH_ROWS = 2000;

/**
 * LOG_BASED: a first run copies the stream in a replication slot's exported snapshot through the reader
 * that would read it FULL_TABLE, and bookmarks the slot's consistent point; later runs emit the changes
 * committed since the bookmark, up to the WAL position at the run's start, in commit order. The bookmark
 * `lsn` is the end of the last transaction emitted in full, so a resumed or retried read repeats at most
 * the transaction it was in.
 */
export class LogBasedReader implements TableReader {
  constructor(private readonly deps: LogBasedReaderDeps) {}

  async *read(ctx: ReadContext): AsyncIterable<ReadBatch> {
    let from: bigint | undefined;
    try {
      from = bookmarkLsn(ctx.bookmark.lsn);
    } catch (err) {
      throw new StateError(
        `the state's bookmark for ${ctx.plan.tapStreamId} has ${(err as Error).message}: remove the bookmark to make a new initial copy`,
      );
    }
    await this.deps.service.prepare(ctx.plan, from === undefined);
    if (from === undefined) yield* this.initialCopy(ctx);
    else yield* this.changes(ctx, from);
  }

  private async *initialCopy(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan, log } = ctx;
    const strategy = await this.deps.registry().choose({ ...plan, method: 'FULL_TABLE' });
    const exported = await exportSnapshot(ctx.config.connection);
    try {
      const copyPlan = withCopyLsn(plan, exported.lsn);
      const inner = strategy.prepare ? await strategy.prepare(copyPlan) : copyPlan;
      log.info(`${plan.tapStreamId}: initial copy with reader ${strategy.name} in the snapshot of ${formatLsn(exported.lsn)}`);
      // an interrupted copy cannot resume in a snapshot that is gone: its bookmark stays empty, and a rerun copies again
      for await (const batch of strategy.reader.read({ ...ctx, plan: inner, bookmark: {}, snapshot: exported.snapshot })) {
        yield { ...batch, bookmark: {} };
      }
    } finally {
      await exported.close();
    }
    yield { bytes: Buffer.alloc(0), rows: 0, bookmark: { lsn: Number(exported.lsn) }, checkpoint: true };
  }

  private async *changes(ctx: ReadContext, from: bigint): AsyncIterable<ReadBatch> {
    const { plan, log } = ctx;
    const { service, relations } = this.deps;
    const confirmed = await service.confirm();
    if (from < confirmed) {
      throw new StateError(
        `the state's lsn for ${plan.tapStreamId} (${formatLsn(from)}) is older than replication slot ${service.settings.slot}'s confirmed_flush_lsn ${formatLsn(confirmed)}: the changes between are gone. Run with the state the target last confirmed, or remove the stream's bookmark to make a new initial copy`,
      );
    }
    const upto = await service.upto();
    let done = from;
    const bookmark = (): Record<string, unknown> => ({ lsn: Number(done) });
    if (upto > from) {
      ctx.pool.ensureCapacity(3);
      const batchRows = Math.min(BATCH_ROWS, ctx.config.stateEveryNRows);
      const source = await ctx.pool.acquire();
      const encoding = await ctx.pool.acquire();
      let ok = false;
      try {
        const pending = new ChangeLines(plan, relations);
        const flush = async function* (): AsyncGenerator<ReadBatch> {
          const rows = pending.rows;
          for await (const batch of encodeChanges(ctx.copy, encoding, plan, pending.take(), rows)) yield { ...batch, bookmark: bookmark() };
        };
        let tx: { commit: bigint; at: string; skip: boolean; markers: number } | undefined;
        let count = 0;
        for await (const { lsn, message, row } of walMessages(source, service.settings.slot, service.settings.publication, upto)) {
          if (row) {
            if (!tx || tx.skip || tx.markers > 0) continue;
            const layout = pending.layout(row.relationOid);
            if (!layout.mine) continue;
            if (layout.compressedChunk) throw compressedChange(plan, layout.schema, layout.name, row.tag);
            pending.add(layout, row, lsn, tx.at);
            count++;
            // within a transaction the bookmark cannot move: flush here only to bound memory in a large one
            if (pending.rows >= BATCH_ROWS) yield* flush();
            continue;
          }
          switch (message.tag) {
            case 'begin': {
              const commit = parseLsn(message.commitLsn!);
              // a transaction that committed before the bookmark was emitted by an earlier run (or is in the initial copy)
              tx = { commit, at: commitTime(message.commitTime), skip: commit < from || commit >= upto, markers: 0 };
              break;
            }
            case 'commit':
              if (tx && !tx.skip) done = parseLsn(message.commitEndLsn!);
              tx = undefined;
              if (pending.rows >= batchRows) yield* flush();
              break;
            case 'message':
              // rows TimescaleDB moves itself (compression, decompression) are between these markers
              if (tx && message.prefix.startsWith('::timescaledb-')) {
                if (message.prefix.endsWith('-start')) tx.markers++;
                else if (message.prefix.endsWith('-end')) tx.markers = Math.max(0, tx.markers - 1);
              }
              break;
            case 'truncate':
              if (tx && !tx.skip) {
                for (const r of message.relations) {
                  const rel = r ? await relations.resolve(r.schema, r.name) : undefined;
                  if (rel && rel.schema === plan.relation.schema && rel.name === plan.relation.name && !rel.compressedChunk) {
                    log.warn(
                      `${plan.tapStreamId}: ${r!.schema}.${r!.name} was truncated at ${formatLsn(tx.commit)}: a TRUNCATE carries no rows, so its rows are not deleted in the target (run a FULL_TABLE sync to match)`,
                    );
                  }
                }
              }
              break;
            case 'relation':
              await pending.relation(message);
              break;
            case 'insert':
            case 'update':
            case 'delete':
            case 'type':
            case 'origin':
              // row changes come as `row` above (row-text.ts), never through the library's parser;
              // type descriptions are read by the decoder itself; origins are not used
              break;
          }
        }
        yield* flush();
        ok = true;
        log.info(`${plan.tapStreamId}: ${count} change(s) from ${formatLsn(from)} to ${formatLsn(upto)}`);
      } finally {
        ctx.pool.release(source, !ok);
        ctx.pool.release(encoding, !ok);
      }
      // every transaction committing before `upto` has been read: the next run starts there
      if (upto > done) done = upto;
    }
    yield { bytes: Buffer.alloc(0), rows: 0, bookmark: bookmark(), checkpoint: true };
  }
}

/** A commit time (µs since 1970) as PostgreSQL prints a timestamptz in UTC: `2024-01-01 10:00:00.123456+00`. */
function commitTime(micros: unknown): string {
  const us = BigInt(micros as bigint);
  const seconds = new Date(Number(us / 1000000n) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const fraction = (us % 1000000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${seconds}${fraction ? `.${fraction}` : ''}+00`;
}

function compressedChange(plan: StreamPlan, schema: string, chunk: string, tag: string): FatalSyncError {
  const [what, setting] =
    tag === 'insert'
      ? [
          'rows were written compressed directly',
          'timescaledb.enable_direct_compress_insert and timescaledb.enable_direct_compress_copy = off',
        ]
      : ['whole compressed batches were changed directly', 'timescaledb.enable_compressed_direct_batch_delete = off'];
  return new FatalSyncError(
    `${plan.tapStreamId}: hypertable ${plan.relation.schema}.${plan.relation.name} has compressed chunk ${schema}.${chunk} where ${what} (${tag.toUpperCase()} outside TimescaleDB's compression markers): the WAL holds compressed batches, not rows, so they cannot be emitted one by one. Set ${setting} for the writers (ALTER DATABASE … SET …), then remove the stream's bookmark to make a new initial copy`,
  );
}
