import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { TapConfig } from '../config/tap-config.js';
import { translateQueryError } from '../postgres/connection-pool.js';
import { CopyOutReader } from '../postgres/copy-out-reader.js';
import type { RecordBatch, RecordEncoder, RowForm } from '../postgres/record-encoder.js';
import { qualifiedName, quoteIdent } from '../postgres/sql.js';
import type { StreamPlan } from './stream-plan.js';
import { shapedWhere } from './query-shape.js';
import { availableParallelism } from 'node:os';
import { TranscodeWorkers } from './transcode-workers.js';
import { threadCpuSeconds } from './thread-cpu.js';
import { copyTextRows } from '../postgres/copy-text-rows.js';

export interface SelectParts {
  /** a complete boolean expression, already quoted (build literals with typedLiteral) */
  readonly where?: string;
  /** column names to order by, ascending */
  readonly orderBy?: readonly string[];
  /** NULLS FIRST on the order (a first incremental run emits rows without a key before the rest) */
  readonly orderNullsFirst?: boolean;
  /** the relation to read instead of the stream's own table (a chunk, a partition), already quoted */
  readonly from?: string;
  /** false: leave out the plan's filters (a check of the whole range, not a read of rows) */
  readonly shaped?: boolean;
}

export interface CopyRunOptions {
  /** names of columns whose last values each batch reports */
  readonly track?: readonly string[];
  /** what is read, for errors (default: the stream), e.g. `chunk _hyper_1_2_chunk of public-metrics` */
  readonly label?: string;
  /**
   * COPYs of this stream running at once: above 1, the fast transcoder runs on worker threads (as many
   * as that, up to the cores), so that concurrent reads are not bound to one thread.
   */
  readonly concurrent?: number;
  /** at most this many worker threads (transcode_workers: N); up to the cores when left out */
  readonly workers?: number;
}

/**
 * Runs `COPY (SELECT …) TO STDOUT` for a stream and encodes its rows as RECORD batches. The fast
 * COPY-text transcoder is used where it handles every selected column, csv-parse otherwise.
 * (Never `COPY table TO STDOUT`: it returns nothing for a hypertable or a compressed chunk.)
 */
export class CopyRunner {
  private workers: TranscodeWorkers | undefined;

  constructor(
    private readonly config: TapConfig,
    private readonly general: RecordEncoder,
    private readonly fast?: RecordEncoder,
  ) {}

  /** The encoder that will read this plan's columns. */
  encoderFor(plan: StreamPlan): RecordEncoder {
    const kinds = plan.columns.map((c) => c.codec.kind);
    if (this.config.decoder !== 'csv' && this.fast?.handles(kinds)) return this.fast;
    return this.general;
  }

  /**
   * How many worker threads transcode this plan's COPYs when `concurrent` run at once (0: the reading
   * thread): one per COPY, at most `workers` (when given) or the cores.
   */
  transcodeThreads(plan: StreamPlan, concurrent: number, workers?: number): number {
    if (this.encoderFor(plan) !== this.fast || concurrent <= 1) return 0;
    return Math.min(concurrent, workers ?? availableParallelism());
  }

  /**
   * The transcode worker threads' CPU seconds so far beside the reading thread's, for the log (how much
   * each added worker costs); undefined without workers, or where the OS does not tell a thread's time.
   */
  transcodeUsage(): string | undefined {
    const workers = this.workers?.cpuSeconds();
    const reading = threadCpuSeconds();
    if (workers === undefined || reading === undefined) return undefined;
    return `transcode workers: ${this.workers!.started} threads, ${workers.toFixed(2)} CPU-s; the reading thread ${reading.toFixed(2)} CPU-s (since the start)`;
  }

  selectSql(plan: StreamPlan, parts: SelectParts = {}): string {
    const sent = this.sentAsBytes(plan, parts);
    const cols = plan.columns
      .map((c) => {
        const expr = c.codec.selectExpr(c.name);
        const send = sent.get(c.name);
        return `${send ? `${send}(${expr})` : expr} AS ${quoteIdent(c.name)}`;
      })
      .join(', ');
    const from = parts.from ?? qualifiedName(plan.relation.schema, plan.relation.name);
    let sql = `SELECT ${cols || 'NULL'} FROM ${from}`;
    const where = parts.shaped === false ? parts.where : shapedWhere(plan, parts.where);
    if (where) sql += ` WHERE ${where}`;
    if (parts.orderBy && parts.orderBy.length > 0)
      sql += ` ORDER BY ${parts.orderBy.map((c) => quoteIdent(c) + (parts.orderNullsFirst ? ' NULLS FIRST' : '')).join(', ')}`;
    return sql;
  }

  /**
   * The columns a Parquet file takes as their binary send form (`\\x` and 16 hex digits) rather than as
   * text, with the function that sends each: float8 (float8send), which the Parquet thread would otherwise
   * parse back with Number() (~0.1 CPU-s per 1M random doubles), and timestamps (timestamptz_send,
   * timestamp_send: µs since 2000-01-01), which the server formats as text at a cost (psql's `\copy` of the
   * bench hypertable's timestamptz column: 1.58 s as text, 1.20 s sent, an int column 0.77 s). The same
   * value either way: extra_float_digits = 3 prints every double exactly, and a timestamp's text is its µs.
   * Not a column that may be a bookmark (the replication key, the key, an ORDER BY column: their text is read
   * for STATE, and ORDER BY names the output column).
   */
  private sentAsBytes(plan: StreamPlan, parts: SelectParts): ReadonlyMap<string, string> {
    if (this.formOf(plan) !== 'copy-text') return NO_COLUMNS;
    const keep = new Set([...plan.keyProperties, ...(plan.replicationKey ? [plan.replicationKey] : []), ...(parts.orderBy ?? [])]);
    const sent = new Map<string, string>();
    for (const c of plan.columns) {
      const send = SEND_FUNCTIONS.get(c.type.typname);
      if (send && !keep.has(c.name)) sent.set(c.name, send);
    }
    return sent;
  }

  /** The form this plan's COPYs reach its output in (StreamPlan.rowForm), or undefined for RECORD lines. */
  private formOf(plan: StreamPlan): RowForm | undefined {
    const wanted = plan.rowForm;
    if (!wanted || this.encoderFor(plan) !== this.fast) return undefined;
    const names = wanted.columns;
    const same = names.length === plan.columns.length && plan.columns.every((c, i) => c.name === names[i]);
    return same ? wanted.form : undefined;
  }

  /**
   * Streams the COPY of `select` on `client`. If the caller stops early or the COPY fails, the client
   * is marked broken (its connection is mid-COPY) and the pool discards it on release.
   */
  async *run(client: pg.PoolClient, plan: StreamPlan, select: string, options: CopyRunOptions = {}): AsyncGenerator<RecordBatch> {
    const encoder = this.encoderFor(plan);
    const form = this.formOf(plan);
    const track = (options.track ?? []).map((name) => {
      const i = plan.columns.findIndex((c) => c.name === name);
      if (i < 0) throw new Error(`column ${name} is not selected in ${plan.tapStreamId}`);
      return i;
    });
    const sql = `COPY (${select}) TO STDOUT ${encoder.copyOptions}`;
    let completed = false;
    // the fast transcoder reads whole socket chunks (CopyOutReader); csv-parse reads pg-copy-streams' output
    const source = client.query(encoder === this.fast ? new CopyOutReader(sql) : copyTo(sql));
    const encodeOptions = {
      stream: plan.stream,
      columns: plan.columns.map((c) => ({ name: c.name, kind: c.codec.kind })),
      version: plan.version,
      timeExtracted: new Date().toISOString(),
      track,
      maxRows: this.config.stateEveryNRows,
      recordsOnly: form === 'records',
    };
    const threads = form === 'copy-text' ? 0 : this.transcodeThreads(plan, options.concurrent ?? 1, options.workers);
    if (threads > 0) this.workers ??= new TranscodeWorkers(threads);
    try {
      if (form === 'copy-text') yield* copyTextRows(source, encodeOptions);
      else {
        const batches = threads > 0 && this.workers ? this.workers.encode(source, encodeOptions) : encoder.encode(source, encodeOptions);
        if (form === 'records') for await (const batch of batches) yield { ...batch, form };
        else yield* batches;
      }
      completed = true;
    } catch (err) {
      throw translateQueryError(err, `COPY of ${options.label ?? plan.tapStreamId}`);
    } finally {
      if (!completed) {
        markBroken(client);
        source.destroy();
      }
    }
  }
}

const NO_COLUMNS: ReadonlyMap<string, string> = new Map();
/** what copy-value-text.ts reads back from `\\x` and 16 hex digits, by type name */
const SEND_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['float8', 'float8send'],
  ['timestamptz', 'timestamptz_send'],
  ['timestamp', 'timestamp_send'],
]);

/** A client whose connection is in an unknown protocol state: the pool must not hand it out again. */
export function markBroken(client: pg.PoolClient): void {
  (client as { tapBroken?: boolean }).tapBroken = true;
}

export function isBroken(client: pg.PoolClient): boolean {
  return (client as { tapBroken?: boolean }).tapBroken === true;
}
