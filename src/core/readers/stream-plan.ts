import type { CatalogEntry, ReplicationMethod } from '../singer/catalog.js';
import type { RelationInfo } from '../postgres/pg-catalog.js';
import type { ColumnCodec, PgTypeInfo } from '../postgres/type-mapping.js';
import type { RowForm } from '../postgres/record-encoder.js';

/** A selected column as the sync reads it: the live type from pg_catalog and its codec. */
export interface PlannedColumn {
  readonly name: string;
  readonly type: PgTypeInfo;
  readonly codec: ColumnCodec;
  /** set for a column a plugin computes on the server (QueryShape.columns): it is not in the table, so a
   * reader that supplies values itself (a change stream) leaves it to the SELECT expression */
  readonly computed?: boolean;
}

/**
 * Everything a reader needs to know about one selected stream, resolved against the live database
 * at the start of the sync (so a dropped table or column fails before any record is written).
 */
export interface StreamPlan {
  readonly entry: CatalogEntry;
  readonly tapStreamId: string;
  readonly stream: string;
  readonly relation: RelationInfo;
  readonly columns: readonly PlannedColumn[];
  readonly method: ReplicationMethod;
  readonly replicationKey?: string;
  readonly keyProperties: readonly string[];
  /** ACTIVATE_VERSION version of a FULL_TABLE sync; records carry it */
  readonly version?: number;
  /** server-side predicates plugins added (QueryShape.where); every reader ANDs them through shapedWhere */
  readonly filters?: readonly string[];
  /** set when a record transform or `skip_changes` applies to the stream: readers of changes attach ReadBatch.changes */
  readonly recordMeta?: boolean;
  /**
   * Set when the stream's output takes its rows in another form than RECORD lines (StreamOutput.takes: a
   * BATCH file): CopyRunner yields them so (RecordBatch.form) for a plan with exactly these columns, in this
   * order, read by the COPY-text transcoder; RECORD lines otherwise.
   */
  readonly rowForm?: { readonly form: RowForm; readonly columns: readonly string[] };
}

export function columnIndex(plan: StreamPlan, name: string): number {
  return plan.columns.findIndex((c) => c.name === name);
}
