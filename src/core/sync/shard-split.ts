import type { Shard } from '../config/tap-config.js';
import type { Logger } from '../logger.js';
import { quoteIdent } from '../postgres/sql.js';
import { shapePlan } from '../readers/query-shape.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { ReaderStrategy } from '../readers/table-reader.js';

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8']);

/**
 * Why a stream cannot be split into shards, or undefined when it can. A strategy that splits by its own
 * parts (chunks, partitions: `shardsByParts`) is trusted; any other reader is split by its key.
 * - LOG_BASED reads one replication slot, which one process consumes: shards would share it.
 * - Without key properties, nothing about a row stays the same between two processes' snapshots: its
 *   page moves on UPDATE, its whole value changes; a split by either can read a row in no shard.
 */
export function shardProblem(plan: StreamPlan, strategy: ReaderStrategy, shard: Shard): string | undefined {
  const id = plan.tapStreamId;
  if (plan.method === 'LOG_BASED') {
    return `stream ${id} is LOG_BASED, which reads one replication slot: it cannot be split into ${shard.count} shards (read it in one unsharded process, or choose FULL_TABLE or INCREMENTAL)`;
  }
  if (strategy.shardsByParts || plan.keyProperties.length > 0) return undefined;
  const what = plan.relation.relkind === 'v' || plan.relation.relkind === 'm' ? 'view' : 'table';
  return `stream ${id} has no key properties to split it into shards by (a ${what} without a primary key, or its key columns not selected): select its key columns, declare table-key-properties in its catalog metadata (columns whose values never change), or read it in one unsharded process`;
}

/**
 * The plan this shard reads: unchanged for a strategy that splits by its parts; else with a predicate
 * that keeps the rows whose key falls in this shard. A single integer key: its value modulo the count
 * (consecutive keys go round the shards). Any other key: PostgreSQL's hashtext of the key's row text,
 * which every process computes alike (the tap's sessions set TimeZone, DateStyle, IntervalStyle and
 * extra_float_digits, so a value has one text). A NULL in a declared key goes to shard 0: every row
 * lands in exactly one shard, whatever its key.
 */
export function shardedPlan(plan: StreamPlan, strategy: ReaderStrategy, shard: Shard, log: Logger): StreamPlan {
  if (strategy.shardsByParts) return plan;
  const keys = plan.keyProperties;
  const n = shard.count;
  const single = keys.length === 1 ? plan.columns.find((c) => c.name === keys[0]) : undefined;
  const integer = single !== undefined && !single.computed && INTEGER_TYPES.has(single.type.typname);
  const bucket = integer
    ? `((${quoteIdent(keys[0]!)} % ${n}) + ${n}) % ${n}`
    : `(pg_catalog.hashtext(ROW(${keys.map(quoteIdent).join(', ')})::text) & 2147483647) % ${n}`;
  log.info(
    `${plan.tapStreamId}: shard ${shard.index} of ${n}: the rows whose key (${keys.join(', ')}) ${integer ? `modulo ${n} is ${shard.index}` : `hashes to ${shard.index} modulo ${n}`}, about 1/${n} of them`,
  );
  return shapePlan(plan, { where: [`coalesce(${bucket}, 0) = ${shard.index}`] });
}
