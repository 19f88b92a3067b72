import { PluginError } from '../errors.js';
import type { StrategyWrapper } from './reader-registry.js';
import { shapePlan, type QueryShape } from './query-shape.js';
import type { ReadBatch, ReadContext, ReaderStrategy } from './table-reader.js';
import type { StreamPlan } from './stream-plan.js';

/**
 * A wrapper that shapes the query of the inner strategy: its predicates and columns reach every read
 * (each chunk of a hypertable too) and the SCHEMA. `shape` may depend on the stream (its columns, its id).
 *
 * Refused at start (before any output, exit 5): a shape the inner strategy does not declare it applies
 * (`ReaderStrategy.shapes`: a replacing reader that builds its own SQL), and a column that replaces a key
 * property or the replication key (the bookmark would hold the replaced value and a resumed run would
 * compare it with the column: rows lost). A record transform (`ctx.records.transform`) masks keys safely.
 */
export function withShape(name: string, shape: QueryShape | ((plan: StreamPlan) => QueryShape)): StrategyWrapper {
  return (inner) => ({
    ...inner,
    name: `${name}(${inner.name})`,
    async prepare(plan) {
      const prepared = inner.prepare ? await inner.prepare(plan) : plan;
      const s = typeof shape === 'function' ? shape(prepared) : shape;
      checkShape(name, inner, prepared, s);
      return shapePlan(prepared, s);
    },
  });
}

/**
 * A wrapper around the inner reader's batches: `read` gets the context and the inner reader's batches,
 * and yields what the sync writes (usually the same batches, each with its bookmark). To stop, throw a
 * StopSyncError: the sync writes STATE for the batches yielded so far. Do not just return early: the
 * sync would take the stream as complete (a FULL_TABLE version would end).
 */
export function withReadHook(
  name: string,
  read: (ctx: ReadContext, batches: AsyncIterable<ReadBatch>) => AsyncIterable<ReadBatch>,
): StrategyWrapper {
  return (inner: ReaderStrategy) => ({
    ...inner,
    name: `${name}(${inner.name})`,
    reader: { read: (ctx) => read(ctx, inner.reader.read(ctx)) },
  });
}

/** A shape the inner strategy cannot apply, or one that replaces a column the stream resumes by, is refused. */
function checkShape(name: string, inner: ReaderStrategy, plan: StreamPlan, shape: QueryShape): void {
  const parts: ('where' | 'columns')[] = [
    ...(shape.where?.length ? (['where'] as const) : []),
    ...(shape.columns?.length ? (['columns'] as const) : []),
  ];
  const missing = parts.filter((p) => !inner.shapes?.includes(p));
  if (missing.length > 0)
    throw new PluginError(
      `wrapper ${name} adds ${missing.join(' and ')} to ${plan.tapStreamId}, but reader ${inner.name} does not apply ${missing.length > 1 ? 'them' : 'it'} (it declares shapes: [${(inner.shapes ?? []).join(', ')}]): make ${inner.name} build its SQL with shapedWhere and the plan's columns and declare shapes, or filter and mask with a record transform (ctx.records.transform), which applies to every reader`,
    );
  const resumesBy = new Set([...plan.keyProperties, ...(plan.replicationKey ? [plan.replicationKey] : [])]);
  const keys = (shape.columns ?? []).map((c) => c.name).filter((n) => resumesBy.has(n));
  if (keys.length > 0)
    throw new PluginError(
      `wrapper ${name} replaces ${keys.join(', ')} of ${plan.tapStreamId}, a key or replication key the stream resumes by: its bookmark would hold the replaced value, and a resumed run would lose rows; mask it with a record transform (ctx.records.transform with shape().retype), which runs after the bookmark is taken`,
    );
}
