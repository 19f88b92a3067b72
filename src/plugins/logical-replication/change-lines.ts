import type { Pgoutput } from 'pg-logical-replication';
import { FatalSyncError } from '../../core/errors.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { SDC_DELETED_AT, SDC_LSN } from './change-columns.js';
import type { RelationMap } from './relation-map.js';
import { CopyTextLines, NULL, readTuple, UNCHANGED, type RowMessage } from './row-text.js';

const LSN = -2;
const DELETED_AT = -3;
const ABSENT = -1;

/** How the rows of one WAL relation become the stream's COPY text lines. */
export interface Layout {
  /** the WAL relation (a chunk, a partition, the table itself) */
  readonly schema: string;
  readonly name: string;
  /** whether its rows are the stream's */
  readonly mine: boolean;
  readonly compressedChunk: boolean;
  /** per plan column: the relation's column index, or ABSENT, LSN, DELETED_AT */
  readonly source: Int32Array;
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
}

/**
 * A stream's changes as COPY text lines in the plan's column order, written from pgoutput's bytes: the
 * new row (inserts, updates) or the key or old row with `_sdc_deleted_at` (deletes), and `_sdc_lsn`.
 * Relations are learnt from pgoutput's relation messages, which come before a relation's first change
 * (and again after its columns change).
 */
export class ChangeLines {
  private readonly lines = new CopyTextLines();
  private readonly layouts = new Map<number, Layout>();

  constructor(
    private readonly plan: StreamPlan,
    private readonly relations: RelationMap,
  ) {}

  get rows(): number {
    return this.lines.rows;
  }

  async relation(message: Pgoutput.MessageRelation): Promise<void> {
    const rel = await this.relations.resolve(message.schema, message.name);
    const mine = !!rel && rel.schema === this.plan.relation.schema && rel.name === this.plan.relation.name;
    const index = new Map(message.columns.map((c, i) => [c.name, i]));
    const source = Int32Array.from(this.plan.columns, (c) =>
      c.name === SDC_LSN ? LSN : c.name === SDC_DELETED_AT ? DELETED_AT : (index.get(c.name) ?? ABSENT),
    );
    const n = message.columns.length;
    this.layouts.set(message.relationOid, {
      schema: message.schema,
      name: message.name,
      mine,
      compressedChunk: !!rel?.compressedChunk,
      source,
      starts: new Int32Array(n),
      lengths: new Int32Array(n),
    });
  }

  layout(oid: number): Layout {
    const layout = this.layouts.get(oid);
    if (!layout) throw new Error(`pgoutput sent a change of relation ${oid} before describing it`);
    return layout;
  }

  /** One change's line. `commitAt`: the transaction's commit time as PostgreSQL prints a timestamptz. */
  add(layout: Layout, row: RowMessage, lsn: bigint, commitAt: string): void {
    const deleted = row.tag === 'delete';
    const { data } = row;
    const n = readTuple(data, row.tuple, layout.starts, layout.lengths);
    const { source, starts, lengths } = layout;
    const out = this.lines;
    for (let j = 0; j < source.length; j++) {
      if (j > 0) out.tab();
      const i = source[j]!;
      if (i === LSN) out.ascii(lsn.toString());
      else if (i === DELETED_AT) {
        if (deleted) out.ascii(commitAt);
        else out.null();
      } else if (i < 0 || i >= n || lengths[i] === NULL) out.null();
      else if (lengths[i] === UNCHANGED) {
        // a delete's old row may hold it; the key is never TOASTed-unchanged, and other columns are null there
        if (!deleted) throw this.unchanged(j);
        out.null();
      } else out.value(data, starts[i]!, lengths[i]!);
    }
    out.endRow();
  }

  /** The lines so far, and an empty builder. */
  take(): Buffer {
    return this.lines.take();
  }

  private unchanged(column: number): FatalSyncError {
    const { plan } = this;
    // pgoutput sends 'unchanged' for a TOASTed value an UPDATE did not touch, unless the old row is logged in full
    return new FatalSyncError(
      `${plan.tapStreamId}: an UPDATE left the large (TOASTed) value of column "${plan.columns[column]!.name}" unchanged, and the WAL does not hold it: run ALTER TABLE ${plan.relation.schema}.${plan.relation.name} REPLICA IDENTITY FULL, then rerun with the same state`,
    );
  }
}
