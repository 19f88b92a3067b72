import type { ValueKind } from '../postgres/type-mapping.js';
import type { StreamPlan } from '../readers/stream-plan.js';

/**
 * What a record is: a row read by a copy (FULL_TABLE, INCREMENTAL, a LOG_BASED stream's initial copy), or
 * a change decoded from the WAL (LOG_BASED).
 */
export type RecordOperation = 'copy' | 'insert' | 'update' | 'delete';

/**
 * Where a change is in the WAL, as the LOG_BASED bookmark names positions: the commit LSN of its
 * transaction (`tx`) and its ordinal in that transaction (`tx_changes`, from 1), and the change's own LSN.
 * `skip_changes` takes `<tx>:<tx_changes>` (the integers of STATE).
 */
export interface RecordPosition {
  /** WAL positions as integers, as in STATE and `_sdc_lsn` */
  readonly lsn: number;
  readonly tx: number;
  readonly tx_changes: number;
}

/**
 * Per-row metadata a reader attaches to a batch (ReadBatch.changes), one entry per RECORD line, in order.
 * Only readers of change records produce it, and only for a plan with `recordMeta` set (a record
 * transform or a skip applies to the stream), so a sync without them pays nothing.
 */
export interface RecordMeta {
  readonly op: 'insert' | 'update' | 'delete';
  readonly lsn: number;
  readonly tx: number;
  readonly n: number;
  /** the commit time as PostgreSQL prints a timestamptz (`2024-01-01 10:00:00.1+00`) */
  readonly at: string;
  /** the line is the row before the next line's update (REPLICA IDENTITY FULL), not a record of its own */
  readonly image?: boolean;
}

/** One record, as a transform sees it. */
export interface StreamRecord {
  readonly stream: string;
  readonly tapStreamId: string;
  readonly operation: RecordOperation;
  /**
   * The record's properties as the target would get them (dates as ISO strings; a number a JS number
   * cannot hold exactly, such as an int8 past 2^53, as a lossless-json LosslessNumber, written back
   * digit for digit). Change them in place: what they hold when the transform returns is written.
   */
  readonly values: Record<string, unknown>;
  /**
   * For an update: the row before it, where the WAL has it (the whole row under REPLICA IDENTITY FULL; the
   * old key when an update changed the key). For a delete, `values` is the old row (its key only unless
   * REPLICA IDENTITY FULL). Undefined otherwise.
   */
  readonly old?: Readonly<Record<string, unknown>>;
  /** where a change is in the WAL; undefined for a copy */
  readonly position?: RecordPosition;
}

/**
 * What becomes of a record: `emit` (also `undefined`) writes its values; `skip` writes nothing; `delete`
 * writes it as a delete (`_sdc_deleted_at` set to the change's commit time), for a row that moved out of
 * what the transform keeps. To stop the sync, throw a StopSyncError: nothing of the batch in hand is
 * written, STATE covers the batches before it, and a stop on a change names its position for `skip_changes`.
 */
export type RecordVerdict = 'emit' | 'skip' | 'delete' | undefined;

/** How a transform changes a stream's SCHEMA, declared before the stream's first message. */
export interface RecordShape {
  /** properties no record carries (removed from the SCHEMA and from every record); never a key property */
  readonly drop?: readonly string[];
  /** properties whose values the transform changes to another kind (a masked integer becomes a string) */
  readonly retype?: Readonly<Record<string, ValueKind>>;
}

/**
 * A record-level transform: for what a server-side shape (`withShape`) cannot say. It runs on every output
 * path (RECORD lines, BATCH files, a LOG_BASED copy and its change records) after bookmarks are taken, so
 * it may change key values and a stream still resumes by the values read. It costs a JSON parse and
 * stringify per record: a stream no transform claims is written as read, at no cost.
 */
export interface RecordTransform {
  /** the SCHEMA changes, per stream; called once per stream before any output */
  shape?(plan: StreamPlan): RecordShape;
  /** called once per record, in order; returns nothing to emit; synchronous unless it returns a promise (awaited in turn) */
  transform(record: StreamRecord): RecordVerdict | void | Promise<RecordVerdict | void>;
}
