import type { StrategyWrapper } from './reader-registry.js';
import { shapePlan, type QueryShape } from './query-shape.js';
import type { ReadBatch, ReadContext, ReaderStrategy } from './table-reader.js';
import type { StreamPlan } from './stream-plan.js';

/**
 * A wrapper that shapes the query of the inner strategy: its predicates and columns reach every read
 * (each chunk of a hypertable too) and the SCHEMA. `shape` may depend on the stream (its columns, its id).
 */
export function withShape(name: string, shape: QueryShape | ((plan: StreamPlan) => QueryShape)): StrategyWrapper {
  return (inner) => ({
    ...inner,
    name: `${name}(${inner.name})`,
    async prepare(plan) {
      const prepared = inner.prepare ? await inner.prepare(plan) : plan;
      return shapePlan(prepared, typeof shape === 'function' ? shape(prepared) : shape);
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
