import type pg from 'pg';
import type { Shard } from '../../core/config/tap-config.js';
import type { Slice } from './partition-slices.js';
import type { SliceSource } from './chunk-reader.js';

/**
 * The shard a slice belongs to, from the slice alone, so that processes that list the slices at
 * different moments agree, and a slice created later never moves the others:
 * - a range (a hypertable chunk's `lower:upper`, one per dimension; a RANGE partition's bounds): its
 *   position on a grid of its own width, floor(lower / (upper - lower)), summed over the dimensions.
 *   Chunks of one interval are consecutive positions, so they go round the shards in time order, and
 *   within one time range the space partitions go round too;
 * - anything else (LIST, HASH and DEFAULT partitions, unbounded ranges): an FNV-1a hash of its key
 *   (the partition's name).
 * Not by the slices' sizes: a size changes (inserts, compression) and a list index shifts (a chunk
 * dropped by retention, one created in the past), and either would move a slice from one shard to another.
 */
export function sliceShard(slice: Slice, count: number): number {
  const ranges = slice.key.split('|').map(parseRange);
  let position: bigint;
  if (ranges.every((r): r is [bigint, bigint] => r !== null)) position = ranges.reduce((sum, [lo, hi]) => sum + floorDiv(lo, hi - lo), 0n);
  else if (slice.lowerOrd !== null && slice.upperOrd !== null && slice.upperOrd > slice.lowerOrd)
    position = floorDiv(slice.lowerOrd, slice.upperOrd - slice.lowerOrd);
  else position = BigInt(fnv1a(slice.key));
  const n = BigInt(count);
  return Number(((position % n) + n) % n);
}

/** `lower:upper` as two integers with upper above lower, else null. */
function parseRange(part: string): [bigint, bigint] | null {
  const m = /^(-?\d+):(-?\d+)$/.exec(part);
  if (!m) return null;
  const lo = BigInt(m[1]!);
  const hi = BigInt(m[2]!);
  return hi > lo ? [lo, hi] : null;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** 32-bit FNV-1a of the UTF-8 bytes: small, fixed, the same in every process and version of Node. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The slices of `shard` only: everything downstream (pruning, progress, the bookmark, the look again for
 * chunks created during the sync) then works on this shard's slices as on a whole stream's.
 */
export function shardSource(source: SliceSource, shard: Shard): SliceSource {
  return {
    rangeColumn: source.rangeColumn,
    rangeKind: source.rangeKind,
    list: async (fresh) => (await source.list(fresh)).filter((s) => sliceShard(s, shard.count) === shard.index),
  };
}

/** `shard 1 of 4: 13 of 50 chunks, 2.1 MB of 8.3 MB (25.3%)`: the share a process logs before it reads. */
export function shareLine(shard: Shard, mine: readonly Slice[], all: readonly Slice[], bytes: ReadonlyMap<string, number>): string {
  const sum = (slices: readonly Slice[]): number => slices.reduce((t, s) => t + s.chunks.reduce((u, c) => u + (bytes.get(c) ?? 0), 0), 0);
  const [own, total] = [sum(mine), sum(all)];
  const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
  const share = total > 0 ? ` (${((100 * own) / total).toFixed(1)}%)` : '';
  return `shard ${shard.index} of ${shard.count}: ${mine.length} of ${all.length} chunks or partitions, ${mb(own)} of ${mb(total)}${share}`;
}

/**
 * Bytes on disk of each relation named (as listChunks and nativePartitionSlices name them), a compressed
 * chunk's compressed relation included when `timescaledb`; a relation dropped since it was listed counts 0.
 */
export async function relationSizes(client: pg.ClientBase, names: readonly string[], timescaledb: boolean): Promise<Map<string, number>> {
  const compressed = timescaledb
    ? `(SELECT pg_catalog.pg_total_relation_size(format('%I.%I', cc.schema_name, cc.table_name)::regclass)
          FROM _timescaledb_catalog.chunk c JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id
         WHERE format('%I.%I', c.schema_name, c.table_name) = n)`
    : 'NULL';
  const { rows } = await client.query<{ n: string; bytes: number }>(
    `SELECT n, (coalesce(pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(n)), 0) + coalesce(${compressed}, 0))::float8 AS bytes
       FROM unnest($1::text[]) n`,
    [names],
  );
  return new Map(rows.map((r) => [r.n, r.bytes]));
}
