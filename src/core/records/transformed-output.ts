import { isSafeNumber, LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { PluginError, StopSyncError, isStopSync } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RecordBatch } from '../postgres/record-encoder.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { ReadBatch } from '../readers/table-reader.js';
import type { RecordSink, StreamOutput } from '../batch/record-sink.js';
import type { RecordMeta, RecordVerdict, StreamRecord } from './record-transform.js';
import { describedPlan, type ClaimedTransform, type RecordTransforms, type SkipPosition } from './record-transforms.js';

const DELETED_AT = '_sdc_deleted_at';
/** a run of 16+ digits (and dots) may be a number a JS number cannot hold; a double's shortest text is safe */
const LONG_NUMBER = /\d[\d.]{15,}/g;

interface RecordLine {
  type: 'RECORD';
  record: Record<string, unknown>;
  time_extracted?: string;
}

/**
 * The sink with the record transforms and `skip_changes` applied: for a stream they claim, each batch's
 * RECORD lines are parsed, transformed and written again before the sink it wraps (stdout, or a BATCH file)
 * sees them; a stream they do not claim gets the wrapped sink's own output, untouched. Bookmarks are the
 * reader's (taken from the values read), so a transform never moves where a stream resumes.
 */
export class TransformedSink implements RecordSink {
  constructor(
    private readonly inner: RecordSink,
    private readonly transforms: RecordTransforms,
    private readonly log: Logger,
  ) {}

  forStream(plan: StreamPlan): StreamOutput {
    const claimed = this.transforms.forPlan(plan);
    const skip = this.transforms.skips.get(plan.tapStreamId);
    if (claimed.length === 0 && !skip) return this.inner.forStream(plan);
    const described = describedPlan(plan, claimed);
    const out = this.inner.forStream(described);
    const dropped = claimed.flatMap((t) => t.shape.drop ?? []);
    const write = transformBatches(plan, claimed, dropped, skip, this.log);
    return {
      described,
      get rowsPerState() {
        return out.rowsPerState;
      },
      write: async (batch) => {
        const transformed = await write(batch);
        if (transformed.rows > 0) await out.write(transformed);
      },
      checkpoint: (then) => out.checkpoint(then),
      settle: () => out.settle(),
      abandon: () => out.abandon(),
    };
  }
}

/** The function that turns one read batch into the batch written. */
function transformBatches(
  plan: StreamPlan,
  claimed: readonly ClaimedTransform[],
  dropped: readonly string[],
  skip: SkipPosition | undefined,
  log: Logger,
): (batch: RecordBatch & Partial<Pick<ReadBatch, 'changes'>>) => Promise<RecordBatch> {
  const canDelete = plan.columns.some((c) => c.name === DELETED_AT);
  // only these columns can hold a number a JS number cannot: int8, numeric, JSON, arrays (float8 is exact)
  const risky = plan.columns.some(
    (c) =>
      c.codec.kind === 'json' ||
      c.type.ndims > 0 ||
      (c.codec.kind === 'integer' && c.type.typname === 'int8') ||
      (c.codec.kind === 'number' && c.type.typname !== 'float4' && c.type.typname !== 'float8'),
  );
  return async (batch) => {
    if (batch.rows === 0) return batch;
    const lines = batch.bytes.toString('utf8').split('\n');
    lines.pop();
    const meta = batch.changes;
    const out: string[] = [];
    // the row before an update: an image line, or the delete of the old key the update moved from
    let before: { m: RecordMeta; values: Record<string, unknown> } | undefined;
    for (let i = 0; i < lines.length; i++) {
      const m = meta?.[i];
      const lossless = risky && unsafeNumberIn(lines[i]!);
      const line = (lossless ? parseLossless(lines[i]!, null, parseNumber) : JSON.parse(lines[i]!)) as RecordLine;
      const values = line.record;
      if (m?.image) {
        delete values[DELETED_AT];
        before = { m, values };
        continue;
      }
      const old = m?.op === 'update' && before && before.m.tx === m.tx && before.m.n === m.n ? before.values : undefined;
      before = m?.op === 'delete' ? { m, values: { ...values } } : undefined;
      if (m && skip && m.tx === skip.tx && m.n === skip.n) {
        log.warn(`${plan.tapStreamId}: skipped the ${m.op} at ${m.tx}:${m.n} (lsn ${m.lsn}) as skip_changes asks; it reaches no target`);
        continue;
      }
      const record: StreamRecord = {
        stream: plan.stream,
        tapStreamId: plan.tapStreamId,
        operation: m?.op ?? 'copy',
        values,
        old,
        position: m ? { lsn: m.lsn, tx: m.tx, tx_changes: m.n } : undefined,
      };
      let verdict: RecordVerdict;
      for (const t of claimed) {
        let v: RecordVerdict | void | Promise<RecordVerdict | void>;
        try {
          v = t.transform.transform(record);
          if (v instanceof Promise) v = await v;
        } catch (err) {
          throw failure(err, t.owner, plan, m);
        }
        if (v === 'skip') {
          verdict = v;
          break;
        }
        if (v === 'delete') {
          if (!canDelete)
            throw new PluginError(
              `plugin ${t.owner}: its record transform turned a record of ${plan.tapStreamId} into a delete, but a ${plan.method} stream has no ${DELETED_AT}: skip it instead`,
            );
          verdict = v;
        }
      }
      if (verdict === 'skip') continue;
      if (verdict === 'delete') values[DELETED_AT] = m ? isoTime(m.at) : (line.time_extracted ?? new Date().toISOString());
      for (const d of dropped) delete values[d];
      out.push(lossless ? stringifyLossless(line)! : JSON.stringify(line));
    }
    if (out.length === 0) return { bytes: Buffer.alloc(0), rows: 0, last: batch.last };
    return { bytes: Buffer.from(`${out.join('\n')}\n`, 'utf8'), rows: out.length, last: batch.last };
  };
}

/**
 * Whether a line may hold a number JSON.parse would change (an int8 past 2^53, a numeric of 16+ digits):
 * such a line is parsed with lossless-json, 5-10 times slower, so a double (PostgreSQL prints the shortest
 * text that reads back the same) or a short number does not send a line there.
 */
function unsafeNumberIn(line: string): boolean {
  for (const m of line.matchAll(LONG_NUMBER)) if (!isSafeNumber(m[0], { approx: false })) return true;
  return false;
}

/** A number a JS number holds exactly as itself, any other as a LosslessNumber (written back as its digits). */
function parseNumber(text: string): number | LosslessNumber {
  return isSafeNumber(text, { approx: false }) ? Number(text) : new LosslessNumber(text);
}

/** `2024-01-01 10:00:00.123+00` (a commit time as PostgreSQL prints it in UTC) as the encoders write timestamptz. */
function isoTime(at: string): string {
  return `${at.replace(' ', 'T').replace(/\+00$/, '')}Z`;
}

/** A transform's stop, with the change's position and how to skip it; any other exception fails the sync naming the plugin. */
function failure(err: unknown, owner: string, plan: StreamPlan, m: RecordMeta | undefined): Error {
  const at = m ? ` at change ${m.tx}:${m.n} (lsn ${m.lsn}, a ${m.op})` : '';
  if (isStopSync(err)) {
    const hint = m
      ? `; to skip that change, rerun with the STATE and the setting skip_changes: {${JSON.stringify(plan.tapStreamId)}: "${m.tx}:${m.n}"}`
      : '';
    const stop = new StopSyncError(`${err.message}${at}${hint}`, { cause: err });
    stop.plugin = err.plugin ?? owner;
    return stop;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PluginError(`plugin ${owner}: its record transform failed on ${plan.tapStreamId}${at}: ${message}`, { cause: err });
}
