import type { TapConfig } from '../config/tap-config.js';
import type { Logger } from '../logger.js';
import type { ConnectionPool } from '../postgres/connection-pool.js';
import type { RecordBatch } from '../postgres/record-encoder.js';
import type { StreamBookmark } from '../singer/messages.js';
import type { CopyRunner } from './copy-runner.js';
import type { PartitionEvents } from '../plugins/tap-plugin.js';
import type { StreamPlan } from './stream-plan.js';
import type { RecordMeta } from '../records/record-transform.js';

/** Records and the stream bookmark that holds once they are written. */
export interface ReadBatch extends RecordBatch {
  /** the complete bookmark of the stream after this batch (the sync emits it in STATE) */
  readonly bookmark: StreamBookmark;
  /** true at a partition's end: the sync emits STATE now, whatever the row count */
  readonly checkpoint?: boolean;
  /**
   * Set by a reader that has just written a complete copy of the stream under this table version (its
   * records carry it): the sync writes ACTIVATE_VERSION once those records are durable, before the STATE
   * of this batch, so the target drops the rows the copy did not have. Not written with activate_version off.
   */
  readonly activateVersion?: number;
  /**
   * Change records only, and only for a plan with `recordMeta` set: per RECORD line, in order, its
   * operation, WAL position and whether it is the old row of the next line. Record transforms read it.
   */
  readonly changes?: readonly RecordMeta[];
}

/**
 * The streams one strategy reads in one pass (ReaderStrategy.readsTogether): every read of the pass gets
 * the same object, and the sync interleaves their batches.
 */
export interface ReadPass {
  readonly streams: readonly string[];
  /** aborted when the pass ends (a failure of one of its reads ends them all): a shared source stops */
  readonly signal: AbortSignal;
}

/** What a reader gets for one read of one stream. */
export interface ReadContext {
  readonly plan: StreamPlan;
  /** where to start: the bookmark from state, or the one the last batch set (a retry resumes here) */
  readonly bookmark: StreamBookmark;
  readonly pool: ConnectionPool;
  readonly config: TapConfig;
  readonly log: Logger;
  /** runs `COPY (SELECT …) TO STDOUT` and encodes records, with the right encoder for the columns */
  readonly copy: CopyRunner;
  /** tell plugins (metrics, compression) where the reader is */
  readonly partitions: PartitionEvents;
  readonly signal: AbortSignal;
  /**
   * An exported snapshot (pg_export_snapshot, or a replication slot's) that every read of this context
   * must import with `SET TRANSACTION SNAPSHOT` as the first statement of a REPEATABLE READ transaction.
   * Set by a strategy that wraps another one (LOG_BASED's initial copy); undefined otherwise.
   */
  readonly snapshot?: string;
  /** set when the stream is read in one pass with others (ReaderStrategy.readsTogether) */
  readonly pass?: ReadPass;
}

/**
 * Reads one stream's rows as RECORD batches, in order, each with the bookmark that is valid after it.
 * It must resume from `ctx.bookmark` (a retry and a resumed run both do that), never yield a bookmark
 * ahead of rows not yet yielded, and release every connection it leased in a `finally`.
 */
export interface TableReader {
  read(ctx: ReadContext): AsyncIterable<ReadBatch>;
}

/**
 * A way to read the streams it claims. The registry asks every strategy and takes the claiming one with
 * the highest precedence; on a tie, the one registered last (so a user plugin overrides a built-in).
 */
export interface ReaderStrategy {
  /** shown in logs and errors */
  readonly name: string;
  /** the default COPY reader is 0; the TimescaleDB chunk reader 100 */
  readonly precedence: number;
  claims(plan: StreamPlan): boolean | Promise<boolean>;
  /**
   * Optional: called once for a stream this strategy reads, before its SCHEMA is written. Return the
   * plan to read and describe: changed columns, codecs or `entry.schema` properties (a masked or
   * computed column) then reach the target's SCHEMA as well as the records. Return it unchanged otherwise.
   */
  prepare?(plan: StreamPlan): StreamPlan | Promise<StreamPlan>;
  /**
   * Optional: called once for every selected stream this strategy reads, before the run's first message
   * (all streams' checks, then any output), with the plan as `prepare` returns it (wrappers' shapes
   * included) and the name of the chain that reads it (e.g. `tenant-filter(logical-replication)`). Throw a
   * TapError whose message names the stream and the fix to refuse a stream the server or the state cannot
   * serve; a refusal leaves stdout empty. A wrapper built with `...inner` keeps the inner one's.
   */
  preflight?(plan: StreamPlan, chain: string): Promise<void>;
  /**
   * Optional: streams whose strategies name the same key are read in one pass (LOG_BASED: one decode of
   * the slot for all of them). The sync writes every SCHEMA, then calls each stream's `reader.read` at
   * once with the same `ctx.pass`, and writes their batches as they come, interleaved; each STATE carries
   * every bookmark. A wrapper built with `...inner` keeps it.
   */
  readonly readsTogether?: string;
  /**
   * The parts of a QueryShape this strategy's reads apply (through `shapedWhere` and the plan's columns).
   * A `withShape` wrapper around a strategy that does not declare what its shape holds fails at start,
   * naming both, instead of being silently ignored. Undefined: none.
   */
  readonly shapes?: readonly ('where' | 'columns')[];
  /**
   * Optional: true when the reader itself reads only the parts of a stream that belong to
   * `ctx.config.shard` (a hypertable's chunks, a table's partitions), chosen from each part's identity
   * alone so that every process agrees. Otherwise, with shard_count above 1, the core splits the stream
   * by a predicate on its key (shard-split.ts). A wrapper built with `...inner` keeps the inner one's.
   */
  readonly shardsByParts?: boolean;
  readonly reader: TableReader;
}
