import type pg from 'pg';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import { uuidV7LowerBound } from './uuid-v7.js';
import { listChunkDimensions, listChunks, type ChunkDimensionRow, type HypertableInfo } from './timescale-catalog.js';

/**
 * A slice is what the chunk reader reads in one go: one time range of a hypertable (every chunk of
 * that range, whatever the space partition) or one partition of a native partitioned table. Slices
 * are keyed by their range, not by chunk name: names change when chunks are merged, split or
 * recompressed, ranges do not.
 */
export interface Slice {
  /** stable identity: `lowerOrd:upperOrd`, or the partition's name when it has no range */
  readonly key: string;
  /** range bounds as comparable integers (µs since the epoch for time ranges); null when unbounded or unknown */
  readonly lowerOrd: bigint | null;
  readonly upperOrd: bigint | null;
  /** SQL condition that selects the slice's rows (constants, so the planner excludes other chunks), if any */
  readonly where?: string;
  /** the relation to read instead of the stream's table (a native partition), already quoted */
  readonly from?: string;
  /** chunk or partition names in this slice, for logs and metrics */
  readonly chunks: readonly string[];
  readonly compressed: boolean;
  readonly partial: boolean;
}

/** `"ts" >= <lower> AND "ts" < <upper>` with the bound literals cast to the column's type. */
function rangeWhere(column: string, type: string, lower: string | null, upper: string | null, integer: boolean): string | undefined {
  const lit = (v: string): string => {
    // uuid bounds come as µs (lowerOrd/upperOrd): 2.23 lists them as integers, 2.28 as timestamptz
    if (type === 'uuid') return `${quoteLiteral(uuidV7LowerBound(BigInt(v)))}::uuid`;
    if (integer) return `${BigInt(v).toString()}::${type}`;
    // bounds come as timestamptz text in UTC; a timestamp (no time zone) column compares in UTC
    if (type === 'timestamp without time zone') return `(${quoteLiteral(v)}::timestamptz AT TIME ZONE 'UTC')`;
    return `${quoteLiteral(v)}::timestamptz::${type}`;
  };
  const parts: string[] = [];
  if (lower !== null) parts.push(`${quoteIdent(column)} >= ${lit(lower)}`);
  if (upper !== null) parts.push(`${quoteIdent(column)} < ${lit(upper)}`);
  return parts.length > 0 ? parts.join(' AND ') : undefined;
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * The slices of a hypertable, in range order. With one dimension, a slice is a time range (every
 * chunk of that range). With space dimensions (by_hash, a second by_range), each chunk is its own
 * slice, keyed by its ranges on every dimension and selected by its time range AND the chunk's own
 * CHECK constraints on the other dimensions, so every row is read once and a chunk is the unit of
 * resume. When a chunk lacks a dimension constraint, the time-range grouping is the safe fallback.
 */
export async function hypertableSlices(client: pg.ClientBase, ht: HypertableInfo, fn: string | null): Promise<Slice[]> {
  const rows = await listChunks(client, ht.schema, ht.name);
  const integer = INTEGER_TYPES.has(ht.timeType);
  // `fn`: the time dimension's partitioning function (timePartitioningFunction). Its ranges bound
  // f(column), so the chunk's own constraint selects its rows
  const expected = ht.spaceDimensions.length + (fn ? 1 : 0);
  const others = expected > 0 ? await listChunkDimensions(client, ht.schema, ht.name, fn !== null) : [];
  const byChunk = new Map<string, ChunkDimensionRow[]>();
  for (const d of others) byChunk.set(d.chunk, [...(byChunk.get(d.chunk) ?? []), d]);
  const perChunk =
    others.length > 0 &&
    rows.every((r) => {
      const dims = byChunk.get(r.chunk) ?? [];
      return dims.length === expected && dims.every((d) => d.condition !== null);
    });
  if (fn && rows.length > 0 && !perChunk) {
    throw new Error(
      `the time dimension is partitioned by ${fn}(${ht.timeColumn}) and a chunk has no constraint on it to select its rows by`,
    );
  }
  const byKey = new Map<string, { rows: typeof rows; dims: ChunkDimensionRow[] }>();
  for (const r of rows) {
    const dims = perChunk ? byChunk.get(r.chunk)! : [];
    const key = [`${r.lowerOrd ?? ''}:${r.upperOrd ?? ''}`, ...dims.map((d) => `${d.lower}:${d.upper}`)].join('|');
    const group = byKey.get(key) ?? { rows: [], dims };
    group.rows.push(r);
    byKey.set(key, group);
  }
  return [...byKey.entries()].map(([key, { rows: group, dims }]) => {
    const first = group[0]!;
    const [lower, upper] = ht.timeType === 'uuid' ? [first.lowerOrd, first.upperOrd] : [first.lower, first.upper];
    const where = [fn ? undefined : rangeWhere(ht.timeColumn, ht.timeType, lower, upper, integer), ...dims.map((d) => d.condition!)];
    return {
      key,
      lowerOrd: first.lowerOrd === null ? null : BigInt(first.lowerOrd),
      upperOrd: first.upperOrd === null ? null : BigInt(first.upperOrd),
      where: where.filter((w): w is string => !!w).join(' AND ') || undefined,
      chunks: group.map((r) => r.chunk),
      compressed: group.some((r) => r.compressed),
      partial: group.some((r) => r.partial),
    };
  });
}

interface TreeRow {
  readonly id: string;
  readonly parent: string;
  readonly name: string;
  readonly partitioned: boolean;
  readonly bound: string;
  /** the parent's partition key, when the parent is RANGE-partitioned on one column */
  readonly key_column: string | null;
  readonly key_type: string | null;
}

export interface PartitionKeyInfo {
  readonly column: string | null;
  readonly typname: string | null;
}

/**
 * The leaf partitions of a native partitioned table (any depth), each read through its own relation.
 * Single-column RANGE bounds on a time or integer key become ords, so incremental runs can skip
 * partitions. The key is the root's when the root is RANGE-partitioned on one column (else the first
 * leaf's parent's, as for LIST (region) then RANGE (ts)), and a leaf's range is the bound of its nearest
 * ancestor-or-self partitioned out on that key: taking each leaf's own parent made RANGE (ts) then
 * RANGE (id) look ranged on id, so late_arrival_lookback on ts was not applied and late rows were missed.
 */
export async function nativePartitionSlices(client: pg.ClientBase, relOid: number): Promise<{ key: PartitionKeyInfo; slices: Slice[] }> {
  // the partition tree from pg_inherits, not pg_partition_tree(), and bounds deparsed without a relation
  // (they hold only constants): both of those lock every partition, so a partition held by an ACCESS
  // EXCLUSIVE lock (a detach, a maintenance job) blocked the listing itself, with an error naming no chunk
  const { rows } = await client.query<TreeRow>(
    `WITH RECURSIVE tree (relid, parentrelid) AS (
       SELECT $1::oid, NULL::oid
       UNION ALL
       SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid)
     SELECT t.relid::int8::text AS id, t.parentrelid::int8::text AS parent, format('%I.%I', n.nspname, c.relname) AS name,
            c.relkind = 'p' AS partitioned, pg_get_expr(c.relpartbound, 0) AS bound,
            (SELECT a.attname FROM pg_catalog.pg_partitioned_table p JOIN pg_catalog.pg_attribute a
                ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
              WHERE p.partrelid = t.parentrelid AND p.partstrat = 'r' AND p.partnatts = 1) AS key_column,
            (SELECT ty.typname FROM pg_catalog.pg_partitioned_table p JOIN pg_catalog.pg_attribute a
                ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
              WHERE p.partrelid = t.parentrelid AND p.partstrat = 'r' AND p.partnatts = 1) AS key_type
       FROM tree t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE t.parentrelid IS NOT NULL`,
    [relOid],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const leaves = rows.filter((r) => !r.partitioned);
  const top = rows.find((r) => r.parent === String(relOid) && r.key_column !== null) ?? leaves[0];
  const key: PartitionKeyInfo = { column: top?.key_column ?? null, typname: top?.key_type ?? null };
  const slices = leaves.map((leaf): Slice => {
    let node: TreeRow | undefined = leaf;
    while (node && node.key_column !== key.column) node = byId.get(node.parent);
    const [lower, upper] = node && key.column !== null ? parseRangeBound(node.bound, key.typname) : [null, null];
    return {
      key: leaf.name,
      lowerOrd: lower,
      upperOrd: upper,
      from: leaf.name,
      chunks: [leaf.name],
      compressed: false,
      partial: false,
    };
  });
  slices.sort((a, b) => cmpOrd(a.lowerOrd, b.lowerOrd) || a.key.localeCompare(b.key));
  return { key, slices };
}

/** `FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')` -> ords (µs for times and dates, integers as they are). */
export function parseRangeBound(bound: string, typname: string | null): [bigint | null, bigint | null] {
  const m = /^FOR VALUES FROM \((.+)\) TO \((.+)\)$/.exec(bound);
  if (!m || !typname) return [null, null];
  return [boundOrd(m[1]!, typname), boundOrd(m[2]!, typname)];
}

function boundOrd(text: string, typname: string): bigint | null {
  if (text === 'MINVALUE' || text === 'MAXVALUE') return null;
  const value = text.replace(/^'(.*)'$/, '$1');
  if (['int2', 'int4', 'int8'].includes(typname)) return /^-?\d+$/.test(value) ? BigInt(value) : null;
  if (['timestamptz', 'timestamp', 'date'].includes(typname)) {
    const iso = value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
    const ms = Date.parse(
      typname === 'timestamptz' || /[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + (iso.length === 10 ? 'T00:00:00Z' : 'Z'),
    );
    return Number.isNaN(ms) ? null : BigInt(ms) * 1000n;
  }
  return null;
}

export function cmpOrd(a: bigint | null, b: bigint | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}
