import type { Pgoutput } from 'pg-logical-replication';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { RecordMeta } from '../../core/records/record-transform.js';
import { SDC_DELETED_AT, SDC_LSN } from './change-columns.js';
import { streamOwns, type RelationMap } from './relation-map.js';
import { CopyTextLines, NULL, readTuple, UNCHANGED, type RowMessage } from './row-text.js';
import { columnDrift, type LiveColumns } from './column-drift.js';

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
  /**
   * Why the stream's records cannot carry this relation's changes as the catalog describes the columns
   * (a column added or renamed after them, a type changed since): the stream is copied again. Else undefined.
   */
  readonly drift?: string;
  /** per plan column: the relation's column index, or ABSENT, LSN, DELETED_AT */
  readonly source: Int32Array;
  /** the relation's column index of each key property */
  readonly keys: Int32Array;
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
  readonly oldStarts: Int32Array;
  readonly oldLengths: Int32Array;
}

/**
 * Reads the values an UPDATE left out of the WAL (TOASTed and untouched, REPLICA IDENTITY not FULL) by
 * the row's key: the columns' text as the session prints it, or undefined when no row has that key any
 * more (a later change in the WAL deleted it or changed its key, and that change reaches the target).
 */
export type UnchangedLookup = (key: readonly (string | null)[], columns: readonly string[]) => Promise<(string | null)[] | undefined>;

/**
 * A stream's changes as COPY text lines in the plan's column order, written from pgoutput's bytes: the
 * new row (inserts, updates) or the key or old row with `_sdc_deleted_at` (deletes), and `_sdc_lsn`.
 * An update that changed the key is two lines: a delete of the old key, then the new row. Relations are
 * learnt from pgoutput's relation messages, which come before a relation's first change (and again after
 * its columns change): each one is checked against the plan's columns (column-drift.ts).
 */
export class ChangeLines {
  private readonly lines = new CopyTextLines();
  private readonly layouts = new Map<number, Layout>();
  private readonly keyNames: readonly string[];
  /**
   * With a plugin's `where` shape: what each change wrote, in order ('i' its new row; 'u' its old row as a
   * delete, then its new row; 'd' its old row as a delete), for the filter pass (change-filter.ts) to decide
   * from both rows. The replica identity is FULL there (the pre-flight checks it), so old rows are whole.
   */
  readonly groups: ('i' | 'u' | 'd')[] = [];
  /**
   * With `plan.recordMeta` (a record transform or a skip applies): per line, its operation and position, and
   * the old row of an update (REPLICA IDENTITY FULL) as an `image` line before it. Empty otherwise.
   */
  readonly meta: RecordMeta[] = [];
  private readonly filtered: boolean;
  private readonly withMeta: boolean;

  constructor(
    private readonly plan: StreamPlan,
    private readonly relations: RelationMap,
    private readonly live: LiveColumns,
    private readonly lookup: UnchangedLookup,
    private readonly warn: (message: string) => void,
  ) {
    this.keyNames = plan.keyProperties;
    this.filtered = (plan.filters?.length ?? 0) > 0;
    this.withMeta = plan.recordMeta === true;
  }

  get rows(): number {
    return this.lines.rows;
  }

  async relation(message: Pgoutput.MessageRelation): Promise<void> {
    const rel = await this.relations.resolve(message.schema, message.name);
    const mine = streamOwns(this.plan, rel);
    const index = new Map(message.columns.map((c, i) => [c.name, i]));
    const source = Int32Array.from(this.plan.columns, (c) =>
      c.name === SDC_LSN ? LSN : c.name === SDC_DELETED_AT ? DELETED_AT : (index.get(c.name) ?? ABSENT),
    );
    const n = message.columns.length;
    const drift = mine && !rel.compressedChunk ? columnDrift(this.plan, message, this.live, this.warn) : undefined;
    this.layouts.set(message.relationOid, {
      schema: message.schema,
      name: message.name,
      mine,
      compressedChunk: !!rel?.compressedChunk,
      drift,
      source,
      keys: Int32Array.from(this.keyNames, (k) => index.get(k) ?? ABSENT),
      starts: new Int32Array(n),
      lengths: new Int32Array(n),
      oldStarts: new Int32Array(n),
      oldLengths: new Int32Array(n),
    });
  }

  layout(oid: number): Layout {
    const layout = this.layouts.get(oid);
    if (!layout) throw new Error(`pgoutput sent a change of relation ${oid} before describing it`);
    return layout;
  }

  /**
   * One change's line(s). `commitAt`: the transaction's commit time as PostgreSQL prints a timestamptz.
   * Returns a promise only when a value the WAL left out must be read from the table first.
   */
  add(layout: Layout, row: RowMessage, lsn: bigint, commitAt: string, tx?: bigint, seen?: number): Promise<void> | undefined {
    const { data } = row;
    const n = readTuple(data, row.tuple, layout.starts, layout.lengths);
    const meta: RecordMeta | undefined =
      this.withMeta && tx !== undefined ? { op: row.tag, lsn: Number(lsn), tx: Number(tx), n: seen ?? 0, at: commitAt } : undefined;
    let hasOld = false;
    if (row.old >= 0) {
      readTuple(data, row.old, layout.oldStarts, layout.oldLengths);
      hasOld = true;
      // the key changed: the target must lose the old key, or it keeps a row the source no longer has
      // (filtered: always, and the filter pass keeps it where it must; with meta: the old row for transforms)
      const moved = this.keyChanged(layout, data);
      if (this.filtered || moved || meta) {
        const old = meta && { ...meta, op: 'delete' as const, image: !moved && !this.filtered };
        this.write(layout, data, layout.oldStarts, layout.oldLengths, n, lsn, commitAt, true, [], [], old);
      }
    }
    if (this.filtered) this.groups.push(row.tag === 'insert' ? 'i' : row.tag === 'delete' ? 'd' : hasOld ? 'u' : 'i');
    if (row.tag !== 'delete' && layout.lengths.includes(UNCHANGED)) {
      if (hasOld && row.oldKind === 'row') fillFromOld(layout, n);
      if (layout.lengths.includes(UNCHANGED)) return this.addLookedUp(layout, data, n, lsn, commitAt, meta);
    }
    this.write(layout, data, layout.starts, layout.lengths, n, lsn, commitAt, row.tag === 'delete', [], [], meta);
    return undefined;
  }

  /** The lines so far, and an empty builder. */
  take(): Buffer {
    this.groups.length = 0;
    this.meta.length = 0;
    return this.lines.take();
  }

  private async addLookedUp(
    layout: Layout,
    data: Buffer,
    n: number,
    lsn: bigint,
    commitAt: string,
    meta: RecordMeta | undefined,
  ): Promise<void> {
    const { starts, lengths, keys } = layout;
    const key = Array.from(keys, (i) => (i < 0 || lengths[i]! < 0 ? null : data.toString('utf8', starts[i]!, starts[i]! + lengths[i]!)));
    const missing: number[] = [];
    for (let i = 0; i < n; i++) if (lengths[i] === UNCHANGED && layout.source.includes(i)) missing.push(i);
    const names = missing.map((i) => this.plan.columns[layout.source.indexOf(i)]!.name);
    const values = names.length > 0 ? await this.lookup(key, names) : [];
    // the row is gone: a later change in the WAL deleted it (or moved its key), and that change says so
    // (an image line written before it stays an image: never a record of its own)
    if (!values) return;
    // the looked-up values live in their own buffer; the line is written from it as from the WAL's bytes
    const texts = values.map((v) => (v === null ? null : Buffer.from(v, 'utf8')));
    this.write(layout, data, starts, lengths, n, lsn, commitAt, false, missing, texts, meta);
  }

  private keyChanged(layout: Layout, data: Buffer): boolean {
    const { keys, starts, lengths, oldStarts, oldLengths } = layout;
    for (let k = 0; k < keys.length; k++) {
      const i = keys[k]!;
      if (i < 0) continue;
      const a = lengths[i]!;
      const b = oldLengths[i]!;
      // an old key that is null in a key-only tuple is a column outside the replica identity: not compared
      if (b === NULL && a !== NULL) continue;
      if (a !== b) return true;
      if (a > 0 && data.compare(data, oldStarts[i]!, oldStarts[i]! + b, starts[i]!, starts[i]! + a) !== 0) return true;
    }
    return false;
  }

  private write(
    layout: Layout,
    data: Buffer,
    starts: Int32Array,
    lengths: Int32Array,
    n: number,
    lsn: bigint,
    commitAt: string,
    deleted: boolean,
    patched: readonly number[] = [],
    patches: readonly (Buffer | null)[] = [],
    meta?: RecordMeta,
  ): void {
    const { source } = layout;
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
        const p = patched.indexOf(i);
        const text = p >= 0 ? patches[p] : null;
        // a delete's old row leaves out nothing a target needs: the key is never TOASTed-unchanged
        if (text) out.value(text, 0, text.length);
        else out.null();
      } else out.value(data, starts[i]!, lengths[i]!);
    }
    out.endRow();
    if (meta) this.meta.push(meta);
  }
}

/** REPLICA IDENTITY FULL: the old row holds every value in full, so an unchanged one is taken from it. */
function fillFromOld(layout: Layout, n: number): void {
  const { starts, lengths, oldStarts, oldLengths } = layout;
  for (let i = 0; i < n; i++) {
    if (lengths[i] !== UNCHANGED) continue;
    starts[i] = oldStarts[i]!;
    lengths[i] = oldLengths[i]!;
  }
}
