import type pg from 'pg';
import type { ReadBatch, ReadContext, TableReader } from '../../core/readers/table-reader.js';
import { bookmarkValue } from '../../core/postgres/value-json.js';
import { quoteIdent, quoteLiteral, typedLiteral } from '../../core/postgres/sql.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';
import { ConfigurationError } from '../../core/errors.js';
import type { StreamBookmark } from '../../core/singer/messages.js';
import type { RecordBatch } from '../../core/postgres/record-encoder.js';
import type { PartitionEvents } from '../../core/plugins/tap-plugin.js';
import type { Slice } from './partition-slices.js';
import { compareKeyValues, progressOf, SliceProgress, sortSlices, valueOrd } from './slice-progress.js';
import { mergeConcurrent } from './merge-concurrent.js';
import { readAhead } from '../../core/readers/read-ahead.js';
import { shardSource, shareLine } from './slice-shards.js';
import { uuidV7LowerBound, uuidV7Micros } from './uuid-v7.js';

/** Where a stream's slices come from (a hypertable's chunks, a table's partitions), cached for a while. */
export interface SliceSource {
  /** the slices now; `fresh` skips the cache (the end-of-sync re-discovery) */
  list(fresh?: boolean): Promise<Slice[]>;
  /** the column the slice ranges are on, when they have ranges */
  readonly rangeColumn: string | null;
  readonly rangeKind: 'time' | 'integer' | 'uuid' | null;
}

export interface ChunkReaderSettings {
  source(ctx: ReadContext): Promise<SliceSource>;
  /** how many slices to read at once for this stream */
  concurrency(ctx: ReadContext): Promise<number>;
  /**
   * True to start the next slice's read on a second connection while the current one is written, when
   * slices are read one at a time (the implementation makes room in the pool for that connection).
   */
  prefetch?(ctx: ReadContext): Promise<boolean>;
  /**
   * Transcoding on worker threads when several slices are read at once (transcode_workers): true for as
   * many threads as slices read at once (up to the cores), a number for at most that many, false or 0 for none
   */
  readonly transcodeWorkers?: boolean | number;
  /** the late-arrival window, as a PostgreSQL interval (time) or an integer (integer dimensions) */
  readonly lookback?: string;
  /** lets the compression plugin skip compressed slices; returns a reason to skip, or undefined */
  skip?(slice: Slice): string | undefined;
  /** waits for a permit to read this slice; the result releases it */
  acquire?(slice: Slice): Promise<() => void>;
  /** an exported snapshot every slice read imports (consistent_snapshot), or undefined for a snapshot per slice */
  snapshot?(ctx: ReadContext): Promise<string | undefined>;
  /**
   * Throws when reading this slice on this connection would miss rows. Called in the slice's transaction
   * before the COPY, with the query of the slice's whole range: no row filter (an INCREMENTAL bound can
   * rightly exclude a chunk from the plan, with TimescaleDB's chunk skipping on its column).
   */
  verify?(client: pg.ClientBase, slice: Slice, rangeSelect: string, inExportedSnapshot: boolean): Promise<void>;
  /** the slice's compression as it is in the read's transaction (a chunk may be compressed after it was listed) */
  status?(client: pg.ClientBase, slice: Slice): Promise<{ compressed: boolean; partial: boolean } | undefined>;
  /** bytes on disk of each chunk or partition named (compressed data included), for the share a shard logs */
  sizes?(chunks: readonly string[]): Promise<Map<string, number>>;
}

/**
 * What a slice's read yields, in order: its start, its batches, its end, done. The partition events travel
 * with the batches so that the consumer reports them in output order: a slice read ahead (chunk_prefetch)
 * or alongside (max_concurrent_chunks) never reports its end before the RECORDs of the slices before it,
 * nor before its own.
 */
type Item = {
  slice: Slice;
  batch?: RecordBatch;
  done?: boolean;
  start?: Parameters<PartitionEvents['start']>[0];
  end?: Parameters<PartitionEvents['end']>[0];
};

/**
 * How many bytes of RECORD batches the slice read ahead may hold before its COPY is paused: one 1 MB
 * batch, plus what the socket and the COPY reader hold, is enough for its first bytes to be waiting
 * when the current slice ends.
 */
const READ_AHEAD_BYTES = 2 * 1024 * 1024;

/**
 * Reads a stream slice by slice (a slice = one chunk range, or one partition), each through
 * `COPY (SELECT … WHERE <range constants>) TO STDOUT` in its own short read-only transaction.
 * A checkpoint follows every slice, so STATE never runs ahead of an unfinished one, and a resumed
 * sync re-reads at most the slices it was in. INCREMENTAL on the range column skips the slices that
 * end before the bookmark (minus the lookback window) without touching them.
 */
export class ChunkReader implements TableReader {
  constructor(private readonly settings: ChunkReaderSettings) {}

  /** At most this many transcode worker threads (transcode_workers: N), or undefined for up to the cores (true). */
  private workerLimit(): number | undefined {
    const setting = this.settings.transcodeWorkers;
    return typeof setting === 'number' ? setting : undefined;
  }

  async *read(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan, log } = ctx;
    const whole = await this.settings.source(ctx);
    // shard_count above 1: this process reads its shard's slices only (slice-shards.ts)
    const shard = ctx.config.shard;
    const source = shard ? shardSource(whole, shard) : whole;
    const concurrency = await this.settings.concurrency(ctx);
    const prefetch = concurrency === 1 && (await this.settings.prefetch?.(ctx)) === true;
    if (prefetch) log.info(`${plan.tapStreamId}: reading the next chunk ahead on a second connection (chunk_prefetch)`);
    const threads = this.settings.transcodeWorkers ? ctx.copy.transcodeThreads(plan, concurrency, this.workerLimit()) : 0;
    if (threads > 0) log.info(`${plan.tapStreamId}: transcoding on ${threads} worker threads`);
    const key = plan.replicationKey;
    const incremental = plan.method === 'INCREMENTAL';
    const onRange = incremental && key === source.rangeColumn && source.rangeKind !== null;
    let all = sortSlices(await source.list(true));
    if (shard) {
      const every = await whole.list();
      const sizes = (await this.settings.sizes?.(every.flatMap((s) => s.chunks))) ?? new Map<string, number>();
      log.info(`${plan.tapStreamId}: ${shareLine(shard, all, every, sizes)}`);
    }
    // the bookmark can follow the rows only when slices are read one at a time, in key order, and no
    // two share a range (the space partitions of one time range do): else it moves at the run's end
    const progressive = onRange && concurrency === 1 && disjoint(all);
    let bookmark: StreamBookmark = { ...ctx.bookmark };
    const saved = progressOf(bookmark);
    const progress = new SliceProgress(saved);
    const filterValue = incremental
      ? progressive
        ? bookmark.replication_key_value
        : (saved.filter_value ?? bookmark.replication_key_value)
      : undefined;
    let maxValue = progressive ? undefined : saved.max_value;
    const threshold =
      onRange && filterValue !== undefined && filterValue !== null ? await this.thresholdOrd(ctx, filterValue, source) : null;
    const rowFilter =
      incremental && filterValue !== undefined && filterValue !== null
        ? this.rowFilter(ctx, key!, filterValue, onRange, threshold)
        : undefined;

    const wanted = (s: Slice): boolean => !progress.isDone(s) && (threshold === null || s.upperOrd === null || s.upperOrd > threshold);
    const snapshot = (): StreamBookmark => {
      const chunks = progress.toJSON(progressive || !incremental ? {} : { filter_value: filterValue, max_value: maxValue });
      return { ...bookmark, chunks };
    };
    const read = new Set<string>();
    const skippedByPrune = all.filter((s) => !progress.isDone(s) && !wanted(s)).length;
    if (skippedByPrune > 0)
      log.info(
        `${plan.tapStreamId}: ${skippedByPrune} chunk(s) end before the bookmark${this.settings.lookback ? ' and lookback' : ''}: not read`,
      );

    for (let round = 0; ; round++) {
      const todo = all.filter((s) => wanted(s) && !read.has(s.key));
      if (todo.length === 0) break;
      if (round > 0) log.info(`${plan.tapStreamId}: ${todo.length} chunk(s) appeared during the sync: reading them`);
      todo.forEach((s) => read.add(s.key));
      const total = todo.length;
      const jobs = todo.map(
        (slice) => () => this.readSlice(ctx, slice, source, rowFilter, incremental ? key : undefined, total, concurrency),
      );
      const items = prefetch
        ? readAhead(jobs, { sizeOf: (i) => i.batch?.bytes.length ?? 0, maxBuffered: READ_AHEAD_BYTES })
        : mergeConcurrent(jobs, concurrency);
      for await (const item of items) {
        if (item.start) await ctx.partitions.start(item.start);
        if (item.end) await ctx.partitions.end(item.end);
        if (item.batch) {
          const last = item.batch.last?.[0];
          if (incremental && last !== undefined && last !== 'null') {
            const value = bookmarkValue(last);
            if (progressive) {
              const current = bookmark.replication_key_value;
              if (current === undefined || current === null || compareKeyValues(value, current) >= 0)
                bookmark = { ...bookmark, replication_key: key, replication_key_value: value };
            } else if (maxValue === undefined || maxValue === null || compareKeyValues(value, maxValue) > 0) {
              maxValue = value;
            }
          }
          yield { ...item.batch, bookmark: snapshot() };
        }
        if (item.done) {
          progress.complete(item.slice, all);
          yield { bytes: Buffer.alloc(0), rows: 0, bookmark: snapshot(), checkpoint: true };
        }
      }
      // backfill or inserts may have created chunks for ranges not read yet: look again before finishing
      all = sortSlices(await source.list(true));
    }
    const usage = threads > 0 ? ctx.copy.transcodeUsage() : undefined;
    if (usage) log.info(`${plan.tapStreamId}: ${usage}`);
    if (incremental && !progressive) {
      const best =
        maxValue !== undefined &&
        maxValue !== null &&
        (filterValue === undefined || filterValue === null || compareKeyValues(maxValue, filterValue) > 0)
          ? maxValue
          : filterValue;
      bookmark = { ...bookmark, replication_key: key };
      if (best !== undefined && best !== null) bookmark.replication_key_value = best;
    }
    delete bookmark.chunks;
    if (incremental) yield { bytes: Buffer.alloc(0), rows: 0, bookmark, checkpoint: true };
  }

  private async *readSlice(
    ctx: ReadContext,
    slice: Slice,
    source: SliceSource,
    rowFilter: string | undefined,
    orderBy: string | undefined,
    total: number,
    concurrency: number,
  ): AsyncGenerator<Item> {
    const { plan, log } = ctx;
    const id = slice.chunks.join(',') || slice.key;
    // the kind as listed; replaced by the kind at read time once the slice's transaction has begun
    let info = { id, compressed: slice.compressed, partial: slice.partial, chunks: slice.chunks, key: slice.key };
    const skip = this.settings.skip?.(slice);
    const now = (await source.list()).find((s) => s.key === slice.key);
    const gone = slice.chunks.filter((c) => !now?.chunks.includes(c));
    if (gone.length > 0) {
      log.warn(
        `${plan.tapStreamId}: chunk ${gone.join(', ')} was dropped since discovery (retention or a merge): its rows are no longer in the database`,
      );
    }
    if (!now) {
      yield { slice, end: { partition: info, total, rows: 0, durationMs: 0, status: 'skipped', reason: 'dropped' } };
      yield { slice, done: true };
      return;
    }
    if (skip) {
      log.warn(`${plan.tapStreamId}: chunk ${id} skipped: ${skip}`);
      yield { slice, end: { partition: info, total, rows: 0, durationMs: 0, status: 'skipped', reason: skip } };
      yield { slice, done: true };
      return;
    }
    yield { slice, start: { partition: info, total } };
    const started = Date.now();
    let rows = 0;
    const where = [slice.where, rowFilter].filter((w): w is string => !!w).join(' AND ') || undefined;
    const select = ctx.copy.selectSql(plan, { where, from: slice.from, orderBy: orderBy ? [orderBy] : undefined });
    log.debug(`${plan.tapStreamId}: chunk ${id}: ${select}`);
    const release = (await this.settings.acquire?.(slice)) ?? (() => undefined);
    let client: pg.PoolClient | undefined;
    let ok = false;
    try {
      const snapshot = ctx.snapshot ?? (await this.settings.snapshot?.(ctx));
      client = await ctx.pool.acquire();
      await begin(client, snapshot);
      const current = (await this.settings.status?.(client, slice)) ?? slice;
      info = { ...info, compressed: current.compressed, partial: current.partial };
      const checked = { ...slice, compressed: current.compressed || slice.compressed };
      await this.settings.verify?.(
        client,
        checked,
        ctx.copy.selectSql(plan, { where: slice.where, from: slice.from, shaped: false }),
        snapshot !== undefined,
      );
      for await (const batch of ctx.copy.run(client, plan, select, {
        track: orderBy ? [orderBy] : [],
        label: `chunk ${id} of ${plan.tapStreamId}`,
        concurrent: this.settings.transcodeWorkers ? Math.min(concurrency, total) : 1,
        workers: this.workerLimit(),
      })) {
        rows += batch.rows;
        yield { slice, batch };
      }
      await client.query('COMMIT');
      ok = true;
    } catch (err) {
      yield {
        slice,
        end: {
          partition: info,
          total,
          rows,
          durationMs: Date.now() - started,
          status: 'failed',
          reason: (err as Error).message,
        },
      };
      throw translateQueryError(err, `reading chunk ${id} of ${plan.tapStreamId}`);
    } finally {
      if (client) ctx.pool.release(client, !ok);
      release();
    }
    if (rows === 0 && !(await source.list(true)).some((s) => s.key === slice.key)) {
      // the chunk went away between the check above and the read: say so, never skip silently
      log.warn(`${plan.tapStreamId}: chunk ${id} was dropped during its read (retention or a merge): its range held no rows to read`);
    }
    yield { slice, end: { partition: info, total, rows, durationMs: Date.now() - started, status: 'succeeded' } };
    yield { slice, done: true };
  }

  /** `key >= bookmark - lookback`, as constants the planner can use for chunk exclusion. */
  private rowFilter(ctx: ReadContext, key: string, value: unknown, onRange: boolean, threshold: bigint | null): string {
    const col = ctx.plan.columns.find((c) => c.name === key)!;
    const lookback = this.settings.lookback;
    let bound = typedLiteral(value, col.type.sqlType);
    if (onRange && lookback && col.type.typname === 'uuid') {
      // a uuid has no arithmetic: the smallest uuid of the millisecond bookmark - lookback
      if (threshold !== null) bound = `${typedLiteral(uuidV7LowerBound(threshold), 'uuid')}`;
    } else if (onRange && lookback) {
      bound =
        /^-?\d+$/.test(lookback) && !isTimeType(col.type.typname)
          ? `(${bound} - ${BigInt(lookback).toString()})`
          : `(${bound} - ${typedLiteral(lookback, 'interval')})::${col.type.sqlType}`;
    }
    return `${quoteIdent(key)} >= ${bound}`;
  }

  /** The ord below which slices hold no rows for this run: bookmark - lookback. */
  private async thresholdOrd(ctx: ReadContext, value: unknown, source: SliceSource): Promise<bigint | null> {
    const ord = source.rangeKind === 'uuid' ? uuidV7Micros(value) : valueOrd(value);
    if (ord === null) return null;
    const lookback = this.settings.lookback;
    if (!lookback) return ord;
    const where = `${ctx.plan.tapStreamId}'s time column ${source.rangeColumn}`;
    if (source.rangeKind === 'integer') {
      if (!/^-?\d+$/.test(lookback.trim())) {
        throw new ConfigurationError(
          `late_arrival_lookback "${lookback}" is not an integer, and ${where} is: give the window in the column's own units, e.g. "100"`,
        );
      }
      return ord - BigInt(lookback.trim());
    }
    const micros = await ctx.pool.use(async (c) => {
      try {
        const { rows } = await c.query<{ us: string }>(`SELECT (extract(epoch FROM $1::interval) * 1000000)::int8::text AS us`, [lookback]);
        return BigInt(rows[0]!.us);
      } catch (err) {
        throw new ConfigurationError(
          `late_arrival_lookback "${lookback}" is not a PostgreSQL interval (${(err as Error).message}), and ${where} is a time: give e.g. "2 hours" or "3 days"`,
        );
      }
    });
    return ord - micros;
  }
}

/** True when no two slices overlap (each starts at or after the end of the one before, in range order). */
function disjoint(sorted: readonly Slice[]): boolean {
  return sorted.every(
    (s, i) => i === 0 || (sorted[i - 1]!.upperOrd !== null && s.lowerOrd !== null && s.lowerOrd >= sorted[i - 1]!.upperOrd!),
  );
}

function isTimeType(typname: string): boolean {
  return typname === 'timestamptz' || typname === 'timestamp' || typname === 'date';
}

/**
 * Each slice in its own short read-only transaction: one consistent view of the slice, locks held
 * briefly. With an exported snapshot, the transaction imports it (it must be its first statement),
 * so every slice sees the database as of the export.
 */
async function begin(client: pg.ClientBase, snapshot: string | undefined): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
}
