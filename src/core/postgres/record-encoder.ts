import type { ValueKind } from './type-mapping.js';

/** A run of complete RECORD lines, ready for the writer. */
export interface RecordBatch {
  /** UTF-8 bytes of whole lines, each ending in '\n' */
  readonly bytes: Buffer;
  readonly rows: number;
  /**
   * JSON texts of the tracked columns in the batch's last row whose tracked values are not null (for
   * bookmarks): a NULL never becomes a bookmark, nor does infinity/NaN (null in JSON), which sort last,
   * so the bookmark stops at the last finite key instead of staying where the previous run left it.
   * When no row of a batch qualifies, the value of an earlier batch (undefined before the first).
   */
  readonly last?: readonly string[];
  /** What the bytes hold when they are not RECORD lines (RowForm): only for a plan with `rowForm` */
  readonly form?: RowForm;
}

/**
 * Rows as a BATCH file's output takes them, rather than as RECORD lines (StreamOutput.takes, StreamPlan.rowForm):
 * `copy-text`: the COPY text rows of the plan's columns, in order, each ending in '\n' (a Parquet file reads
 * its values from them); `records`: the `record` objects alone, one per line (what a JSONL file holds).
 */
export type RowForm = 'copy-text' | 'records';

export interface EncodeOptions {
  readonly stream: string;
  readonly columns: readonly { readonly name: string; readonly kind: ValueKind }[];
  readonly version?: number;
  readonly timeExtracted: string;
  /** indexes into `columns` whose values the batch reports in `last` */
  readonly track: readonly number[];
  /** a batch never holds more rows than this (so STATE can follow every N rows) */
  readonly maxRows: number;
  /** lines of the `record` objects alone (RowForm `records`), not RECORD lines */
  readonly recordsOnly?: boolean;
}

/**
 * Turns the bytes of one COPY ... TO STDOUT into RECORD batches. Two implementations:
 * csv-record-encoder (csv-parse; any column) and copy-text-transcoder (COPY text format, byte level, fast).
 */
export interface RecordEncoder {
  readonly name: string;
  /** The options clause of the COPY this encoder reads, e.g. `(FORMAT csv, FORCE_QUOTE *)`. */
  readonly copyOptions: string;
  /** True when this encoder can convert every one of these kinds. */
  handles(kinds: readonly ValueKind[]): boolean;
  encode(copyOut: AsyncIterable<Buffer>, options: EncodeOptions): AsyncGenerator<RecordBatch>;
}

/** The fixed part of every record line before the values: `{"type":"RECORD","stream":…,"record":{` */
export function recordPrefix(stream: string): string {
  return `{"type":"RECORD","stream":${JSON.stringify(stream)},"record":{`;
}

/** The fixed part after the values: `},"version":…,"time_extracted":…}` and the newline. */
export function recordSuffix(options: Pick<EncodeOptions, 'version' | 'timeExtracted'>): string {
  // the version comes from the state file, which anyone may have written: pasted unchecked, a string
  // like `1,"record":{…}` or one holding a newline forged records (the state schema refuses it first;
  // this keeps any other caller from reaching the bytes with it)
  if (options.version !== undefined && !Number.isSafeInteger(options.version)) {
    throw new TypeError(`a RECORD version must be a safe integer, not ${JSON.stringify(options.version)}`);
  }
  const version = options.version === undefined ? '' : `,"version":${JSON.stringify(options.version)}`;
  return `}${version},"time_extracted":${JSON.stringify(options.timeExtracted)}}\n`;
}
