import type pg from 'pg';
import { embeddedEngine } from '../../core/postgres/pg-catalog.js';

/**
 * Every query of TimescaleDB's catalog, in one place, each labelled with the versions it serves.
 * The information views (timescaledb_information.*) are the public, permission-friendly surface;
 * `_timescaledb_catalog` is read only where the views say nothing (chunk status bits).
 */
export interface ExtensionInfo {
  readonly version: string;
  /**
   * 'timescale' (community: compression readable), 'apache' (no compression), or null when the setting
   * does not exist in the session: TimescaleDB's library is not loaded there (a restarted embedded engine)
   */
  readonly license: string | null;
  /** PGlite: one connection at a time */
  readonly embedded: boolean;
}

/** Installed extension, license and engine. All versions. */
export async function extensionInfo(client: pg.ClientBase): Promise<ExtensionInfo | undefined> {
  const { rows } = await client.query<{ version: string }>(
    `SELECT e.extversion AS version FROM pg_catalog.pg_extension e WHERE e.extname = 'timescaledb'`,
  );
  if (rows.length === 0) return undefined;
  const license = await client
    .query<{ license: string }>(`SELECT current_setting('timescaledb.license', true) AS license`)
    .then((r) => r.rows[0]?.license ?? null);
  return { version: rows[0]!.version, license, embedded: await embeddedEngine(client) };
}

export { embeddedEngine };

export interface HypertableInfo {
  readonly schema: string;
  readonly name: string;
  readonly timeColumn: string;
  readonly timeType: string;
  /** '1 day' for time dimensions, the integer for integer ones */
  readonly chunkInterval: string | null;
  readonly numChunks: number;
  readonly spaceDimensions: { column: string; partitions: number | null }[];
  readonly compressionEnabled: boolean;
}

/** Hypertables the user can see, with their dimensions. timescaledb_information views: 2.0+. */
export async function listHypertables(client: pg.ClientBase): Promise<HypertableInfo[]> {
  const { rows } = await client.query(
    `SELECT h.hypertable_schema AS schema, h.hypertable_name AS name, h.num_chunks, h.compression_enabled,
            d.column_name AS time_column, d.column_type::text AS time_type,
            coalesce(d.time_interval::text, d.integer_interval::text) AS chunk_interval,
            (SELECT coalesce(json_agg(json_build_object('column', s.column_name, 'partitions', s.num_partitions)
                                      ORDER BY s.dimension_number), '[]'::json)
               FROM timescaledb_information.dimensions s
              WHERE s.hypertable_schema = h.hypertable_schema AND s.hypertable_name = h.hypertable_name
                AND s.dimension_number > 1) AS space
       FROM timescaledb_information.hypertables h
       JOIN timescaledb_information.dimensions d
         ON d.hypertable_schema = h.hypertable_schema AND d.hypertable_name = h.hypertable_name AND d.dimension_number = 1`,
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    timeColumn: r.time_column,
    timeType: r.time_type,
    chunkInterval: r.chunk_interval,
    numChunks: Number(r.num_chunks),
    spaceDimensions: r.space,
    compressionEnabled: r.compression_enabled === true,
  }));
}

/**
 * Relations that are TimescaleDB internals, never streams: chunks (wherever their schema), compressed
 * chunks, internal hypertables (compression, continuous aggregate materialization), and every
 * inheritance child of a hypertable. `_timescaledb_catalog` is readable by PUBLIC in 2.x.
 */
export async function listInternalRelations(client: pg.ClientBase): Promise<Set<string>> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT c.schema_name AS schema, c.table_name AS name FROM _timescaledb_catalog.chunk c
     UNION
     SELECT h.schema_name, h.table_name FROM _timescaledb_catalog.hypertable h
      WHERE h.compression_state = 2
         OR EXISTS (SELECT 1 FROM _timescaledb_catalog.continuous_agg a WHERE a.mat_hypertable_id = h.id)
     UNION
     SELECT cn.nspname, cc.relname FROM pg_catalog.pg_inherits i
       JOIN pg_catalog.pg_class cc ON cc.oid = i.inhrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
       JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
       JOIN _timescaledb_catalog.hypertable h ON h.schema_name = pn.nspname AND h.table_name = pc.relname`,
  );
  return new Set(rows.map((r) => `${r.schema}\u0000${r.name}`));
}

/** Schemas that hold only TimescaleDB internals. */
export const INTERNAL_SCHEMAS = new Set([
  '_timescaledb_internal',
  '_timescaledb_catalog',
  '_timescaledb_config',
  '_timescaledb_cache',
  '_timescaledb_functions',
  '_timescaledb_debug',
  'timescaledb_information',
  'timescaledb_experimental',
  'timescaledb_osm',
]);

export interface ChunkRow {
  readonly chunk: string;
  /** range bounds as text in the session's UTC (time) or integers (integer dimensions) */
  readonly lower: string | null;
  readonly upper: string | null;
  /** range bounds in microseconds since the epoch (time) or the integers themselves */
  readonly lowerOrd: string | null;
  readonly upperOrd: string | null;
  readonly compressed: boolean;
  /** _timescaledb_catalog.chunk.status bit 8 (2.10+): rows inserted after compression */
  readonly partial: boolean;
}

/** The chunks of one hypertable with their primary-dimension ranges. timescaledb_information.chunks: 2.0+. */
export async function listChunks(client: pg.ClientBase, schema: string, table: string): Promise<ChunkRow[]> {
  const { rows } = await client.query(
    `SELECT format('%I.%I', c.chunk_schema, c.chunk_name) AS chunk,
            coalesce(c.range_start::text, c.range_start_integer::text) AS lower,
            coalesce(c.range_end::text, c.range_end_integer::text) AS upper,
            coalesce((extract(epoch FROM c.range_start) * 1000000)::int8, c.range_start_integer)::text AS lower_ord,
            coalesce((extract(epoch FROM c.range_end) * 1000000)::int8, c.range_end_integer)::text AS upper_ord,
            coalesce(c.is_compressed, false) AS compressed,
            coalesce((SELECT (k.status & 8) <> 0 FROM _timescaledb_catalog.chunk k
                       WHERE k.schema_name = c.chunk_schema AND k.table_name = c.chunk_name), false) AS partial
       FROM timescaledb_information.chunks c
      WHERE c.hypertable_schema = $1 AND c.hypertable_name = $2
      ORDER BY lower_ord NULLS FIRST, chunk`,
    [schema, table],
  );
  return rows.map((r) => ({
    chunk: r.chunk,
    lower: r.lower,
    upper: r.upper,
    lowerOrd: r.lower_ord,
    upperOrd: r.upper_ord,
    compressed: r.compressed,
    partial: r.partial,
  }));
}

/**
 * The partitioning function of a hypertable's primary (time) dimension, schema-qualified, or null: with
 * one (`partition_func`, e.g. a text column of epoch seconds), chunk ranges bound `f(column)`, not the
 * column. _timescaledb_catalog.dimension: 2.0+.
 */
export async function timePartitioningFunction(client: pg.ClientBase, schema: string, table: string): Promise<string | null> {
  const { rows } = await client.query<{ fn: string | null }>(
    `SELECT CASE WHEN d.partitioning_func IS NULL THEN NULL ELSE format('%I.%I', d.partitioning_func_schema, d.partitioning_func) END AS fn
       FROM _timescaledb_catalog.dimension d JOIN _timescaledb_catalog.hypertable h ON h.id = d.hypertable_id
      WHERE h.schema_name = $1 AND h.table_name = $2 ORDER BY d.id LIMIT 1`,
    [schema, table],
  );
  return rows[0]?.fn ?? null;
}

/**
 * The compressed relation of each compressed chunk among `chunks` (names as listChunks gives them), by
 * chunk: `compress_hyper_<n>_<m>_chunk`, which a plan that decompresses the chunk scans.
 * _timescaledb_catalog.chunk.compressed_chunk_id: 1.5+.
 */
export async function compressedRelations(client: pg.ClientBase, chunks: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await client.query<{ chunk: string; compressed: string }>(
    `SELECT format('%I.%I', c.schema_name, c.table_name) AS chunk, cc.table_name AS compressed
       FROM _timescaledb_catalog.chunk c JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id
      WHERE format('%I.%I', c.schema_name, c.table_name) = ANY($1::text[])`,
    [chunks],
  );
  return new Map(rows.map((r) => [r.chunk, r.compressed]));
}

/** One chunk's condition on a dimension other than the primary one (a hash partition, a second range). */
export interface ChunkDimensionRow {
  readonly chunk: string;
  readonly dimensionId: number;
  /** the dimension slice's bounds in TimescaleDB's internal form (hash values, µs, integers) */
  readonly lower: string;
  readonly upper: string;
  /** the chunk's own CHECK constraint for this dimension, without `CHECK`, or null when it has none */
  readonly condition: string | null;
}

/**
 * The non-primary dimension slices of every chunk of a hypertable, with the CHECK constraint
 * TimescaleDB put on the chunk for each: the exact condition (partitioning function, column type
 * and open bounds included) that selects the chunk's rows. Checked on 2.23 (embedded) and 2.28 (native).
 * A chunk counts when its table exists (`to_regclass`): 2.23 keeps dropped chunks' rows with
 * `chunk.dropped`, 2.28 has no such column (it deletes the row), and 2.28's chunk_constraint is a view
 * over dimension_slice.chunk_id; both answer this query the same.
 */
export async function listChunkDimensions(
  client: pg.ClientBase,
  schema: string,
  table: string,
  withPrimary = false,
): Promise<ChunkDimensionRow[]> {
  const { rows } = await client.query(
    `SELECT format('%I.%I', ch.schema_name, ch.table_name) AS chunk, d.id AS dimension_id,
            ds.range_start::text AS lower, ds.range_end::text AS upper,
            regexp_replace(pg_get_constraintdef(con.oid), '^CHECK ', '') AS condition
       FROM _timescaledb_catalog.hypertable h
       JOIN _timescaledb_catalog.chunk ch ON ch.hypertable_id = h.id
       JOIN pg_catalog.pg_class rel ON rel.oid = to_regclass(format('%I.%I', ch.schema_name, ch.table_name))
       JOIN _timescaledb_catalog.chunk_constraint cc ON cc.chunk_id = ch.id
       JOIN _timescaledb_catalog.dimension_slice ds ON ds.id = cc.dimension_slice_id
       JOIN _timescaledb_catalog.dimension d ON d.id = ds.dimension_id
       LEFT JOIN pg_catalog.pg_constraint con ON con.conname = cc.constraint_name AND con.conrelid = rel.oid
      WHERE h.schema_name = $1 AND h.table_name = $2
        AND ($3 OR d.id <> (SELECT min(p.id) FROM _timescaledb_catalog.dimension p WHERE p.hypertable_id = h.id))
      ORDER BY 1, d.id`,
    [schema, table, withPrimary],
  );
  return rows.map((r) => ({ chunk: r.chunk, dimensionId: Number(r.dimension_id), lower: r.lower, upper: r.upper, condition: r.condition }));
}

export interface CompressionSettings {
  readonly segmentby: string | null;
  readonly orderby: string | null;
}

/**
 * segmentby/orderby of every hypertable with compression settings, by `schema\0table`.
 * 2.18+: timescaledb_information.hypertable_columnstore_settings; 2.13–2.17: compression_settings.
 */
export async function compressionSettings(client: pg.ClientBase, version: string): Promise<Map<string, CompressionSettings>> {
  const out = new Map<string, CompressionSettings>();
  if (atLeast(version, 2, 18)) {
    const { rows } = await client.query(
      `SELECT n.nspname AS schema, c.relname AS name, s.segmentby, s.orderby
         FROM timescaledb_information.hypertable_columnstore_settings s
         JOIN pg_catalog.pg_class c ON c.oid = s.hypertable JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
    );
    for (const r of rows) out.set(`${r.schema}\u0000${r.name}`, { segmentby: r.segmentby, orderby: r.orderby });
    return out;
  }
  const { rows } = await client.query(
    `SELECT hypertable_schema AS schema, hypertable_name AS name,
            string_agg(attname, ',' ORDER BY segmentby_column_index) FILTER (WHERE segmentby_column_index IS NOT NULL) AS segmentby,
            string_agg(attname || CASE WHEN orderby_asc THEN '' ELSE ' DESC' END, ',' ORDER BY orderby_column_index)
              FILTER (WHERE orderby_column_index IS NOT NULL) AS orderby
       FROM timescaledb_information.compression_settings GROUP BY 1, 2`,
  );
  for (const r of rows) out.set(`${r.schema}\u0000${r.name}`, { segmentby: r.segmentby, orderby: r.orderby });
  return out;
}

export interface CompressionStats {
  readonly totalChunks: number;
  readonly compressedChunks: number;
  readonly beforeBytes: number | null;
  readonly afterBytes: number | null;
}

/** hypertable_compression_stats(): 2.0+ (2.18 adds hypertable_columnstore_stats and keeps this name as an alias). */
export async function compressionStats(client: pg.ClientBase, schema: string, table: string): Promise<CompressionStats> {
  const { rows } = await client.query(
    `SELECT total_chunks, number_compressed_chunks, before_compression_total_bytes AS before, after_compression_total_bytes AS after
       FROM hypertable_compression_stats(format('%I.%I', $1::text, $2::text)::regclass)`,
    [schema, table],
  );
  const r = rows[0] ?? {};
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return {
    totalChunks: num(r.total_chunks) ?? 0,
    compressedChunks: num(r.number_compressed_chunks) ?? 0,
    beforeBytes: num(r.before),
    afterBytes: num(r.after),
  };
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  return (a ?? 0) > major || ((a ?? 0) === major && (b ?? 0) >= minor);
}

/**
 * A hypertable's row estimate: its chunks' reltuples plus, for compressed chunks, the rows they held when
 * compressed (compression_chunk_size). The root's own reltuples is 0 once analyzed, -1 before; and
 * approximate_row_count() overcounts a space-partitioned hypertable with compressed chunks (2,340 for 388
 * rows on 2.28). null when nothing was analyzed yet: unknown, not empty. Checked on 2.23 and 2.28.
 */
export async function hypertableRowEstimate(client: pg.ClientBase, schema: string, table: string): Promise<number | null> {
  const { rows } = await client.query<{ n: string | null; unanalyzed: boolean | null }>(
    `SELECT sum(greatest(k.reltuples, 0) + coalesce(s.numrows_pre_compression, 0))::int8::text AS n,
            bool_or(k.reltuples < 0 AND s.chunk_id IS NULL) AS unanalyzed
       FROM _timescaledb_catalog.hypertable h
       JOIN _timescaledb_catalog.chunk c ON c.hypertable_id = h.id
       JOIN pg_catalog.pg_class k ON k.oid = to_regclass(format('%I.%I', c.schema_name, c.table_name))
       LEFT JOIN _timescaledb_catalog.compression_chunk_size s ON s.chunk_id = c.id
      WHERE h.schema_name = $1 AND h.table_name = $2`,
    [schema, table],
  );
  const n = Number(rows[0]?.n ?? 0);
  return n === 0 && rows[0]?.unanalyzed ? null : n;
}

/**
 * Whether the given chunks are compressed (or partially) now, in the caller's transaction: chunks are
 * compressed and decompressed during a sync, so a slice's kind as listed may be stale by its read.
 * _timescaledb_catalog.chunk.compressed_chunk_id and status bits 1 (compressed) and 8 (partial): checked
 * on 2.23 (embedded) and 2.28 (native).
 */
export async function chunkCompression(
  client: pg.ClientBase,
  chunks: readonly string[],
): Promise<{ compressed: boolean; partial: boolean }> {
  const { rows } = await client.query<{ compressed: boolean; partial: boolean }>(
    `SELECT coalesce(bool_or(c.compressed_chunk_id IS NOT NULL OR (c.status & 1) <> 0), false) AS compressed,
            coalesce(bool_or((c.status & 8) <> 0), false) AS partial
       FROM _timescaledb_catalog.chunk c WHERE format('%I.%I', c.schema_name, c.table_name) = ANY($1::text[])`,
    [chunks],
  );
  return rows[0] ?? { compressed: false, partial: false };
}

/** A continuous aggregate: a view over a hypertable (or over another aggregate) with a materialization hypertable. */
export interface ContinuousAggregateInfo {
  readonly schema: string;
  readonly name: string;
  readonly matHypertableId: number;
  /** the hypertable it aggregates; for a hierarchical aggregate, the aggregate it is built on */
  readonly source: { schema: string; name: string; continuousAggregate: boolean };
  /** the view's time_bucket column: the materialization hypertable's time dimension */
  readonly bucketColumn: string;
  readonly bucketType: string;
  /** '01:00:00', '1 mon' (an interval as TimescaleDB keeps it), or the integer width */
  readonly bucketWidth: string | null;
  /** the view's other GROUP BY columns, in the view's order */
  readonly groupBy: string[];
  readonly materializedOnly: boolean;
  /** the refresh policy, when there is one: offsets as the policy's config holds them (null start_offset = from the beginning) */
  readonly policy: { jobId: number; startOffset: string | null; endOffset: string | null; scheduleInterval: string } | null;
}

/**
 * Every continuous aggregate the user can see. `_timescaledb_catalog.continuous_agg` (with
 * parent_mat_hypertable_id, 2.9+), `continuous_aggs_bucket_function` (2.14+ layout) and the refresh
 * policy joined by `config->>'mat_hypertable_id'` (2.28's jobs.hypertable_name names the view, 2.23's
 * the materialization: the config says the same on both). The GROUP BY columns come from the direct
 * view's query tree: its top-level target entries with a sort/group reference (`:ressortgroupref` > 0);
 * the aggregates' own argument entries have no name (`:resname <>`). Checked on 2.23 (embedded) and
 * 2.28 (native).
 */
export async function listContinuousAggregates(client: pg.ClientBase): Promise<ContinuousAggregateInfo[]> {
  const { rows } = await client.query(
    `SELECT ca.user_view_schema AS schema, ca.user_view_name AS name, ca.mat_hypertable_id AS mat_id, ca.materialized_only,
            coalesce(pa.user_view_schema, rh.schema_name) AS source_schema, coalesce(pa.user_view_name, rh.table_name) AS source_name,
            pa.mat_hypertable_id IS NOT NULL AS source_is_cagg,
            d.column_name AS bucket_column, d.column_type::text AS bucket_type, bf.bucket_width::text AS bucket_width,
            j.job_id, j.config->>'start_offset' AS start_offset, j.config->>'end_offset' AS end_offset,
            j.schedule_interval::text AS schedule_interval,
            (SELECT r.ev_action::text FROM pg_catalog.pg_rewrite r
              WHERE r.ev_class = to_regclass(format('%I.%I', ca.direct_view_schema, ca.direct_view_name))) AS query_tree
       FROM _timescaledb_catalog.continuous_agg ca
       JOIN _timescaledb_catalog.hypertable mh ON mh.id = ca.mat_hypertable_id
       JOIN _timescaledb_catalog.hypertable rh ON rh.id = ca.raw_hypertable_id
       LEFT JOIN _timescaledb_catalog.continuous_agg pa ON pa.mat_hypertable_id = ca.parent_mat_hypertable_id
       JOIN timescaledb_information.dimensions d
         ON d.hypertable_schema = mh.schema_name AND d.hypertable_name = mh.table_name AND d.dimension_number = 1
       LEFT JOIN _timescaledb_catalog.continuous_aggs_bucket_function bf ON bf.mat_hypertable_id = ca.mat_hypertable_id
       LEFT JOIN timescaledb_information.jobs j
         ON j.proc_name = 'policy_refresh_continuous_aggregate' AND (j.config->>'mat_hypertable_id')::int = ca.mat_hypertable_id
      ORDER BY 1, 2, j.job_id`,
  );
  const seen = new Set<number>();
  const out: ContinuousAggregateInfo[] = [];
  for (const r of rows) {
    // one refresh policy per aggregate (TimescaleDB refuses a second); the ORDER BY keeps the first if not
    if (seen.has(Number(r.mat_id))) continue;
    seen.add(Number(r.mat_id));
    out.push({
      schema: r.schema,
      name: r.name,
      matHypertableId: Number(r.mat_id),
      source: { schema: r.source_schema, name: r.source_name, continuousAggregate: r.source_is_cagg === true },
      bucketColumn: r.bucket_column,
      bucketType: r.bucket_type,
      bucketWidth: r.bucket_width,
      groupBy: groupByColumns(r.query_tree ?? '').filter((c) => c !== r.bucket_column),
      materializedOnly: r.materialized_only === true,
      policy:
        r.job_id === null
          ? null
          : { jobId: Number(r.job_id), startOffset: r.start_offset, endOffset: r.end_offset, scheduleInterval: r.schedule_interval },
    });
  }
  return out;
}

/** Names of the top-level target entries of a query tree (pg_node_tree text) that the query groups by. */
function groupByColumns(tree: string): string[] {
  const out: string[] = [];
  // a name is printed with backslash escapes for whitespace, parentheses, braces and backslashes
  for (const m of tree.matchAll(/:resname ((?:\\.|[^\s\\])+) :ressortgroupref (\d+)/g)) {
    if (m[1] === '<>' || m[2] === '0') continue;
    const name = m[1]!.replace(/\\(.)/g, '$1');
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * The aggregate's watermark (buckets below it are materialized) as text in the bucket column's type, or
 * null when nothing is materialized yet. `_timescaledb_functions.cagg_watermark` returns TimescaleDB's
 * internal time (µs since the Unix epoch for time types, the value for integers); its minimum means "empty".
 * Checked on 2.23 (embedded) and 2.28 (native).
 */
export async function continuousAggregateWatermark(
  client: pg.ClientBase,
  cagg: Pick<ContinuousAggregateInfo, 'matHypertableId' | 'bucketType'>,
): Promise<string | null> {
  const convert: Record<string, string> = {
    'timestamp with time zone': '_timescaledb_functions.to_timestamp(w)',
    'timestamp without time zone': '_timescaledb_functions.to_timestamp_without_timezone(w)',
    date: '_timescaledb_functions.to_date(w)',
  };
  const time = convert[cagg.bucketType];
  if (time) {
    const { rows } = await client.query<{ w: string | null }>(
      `SELECT CASE WHEN w <= -210866803200000000 THEN NULL ELSE (${time})::text END AS w FROM _timescaledb_functions.cagg_watermark($1) w`,
      [cagg.matHypertableId],
    );
    return rows[0]?.w ?? null;
  }
  const { rows } = await client.query<{ w: string }>(`SELECT w::text AS w FROM _timescaledb_functions.cagg_watermark($1) w`, [
    cagg.matHypertableId,
  ]);
  const min: Record<string, bigint> = { smallint: -(2n ** 15n), integer: -(2n ** 31n), bigint: -(2n ** 63n) };
  const w = rows[0]?.w;
  return w === undefined || BigInt(w) <= (min[cagg.bucketType] ?? -(2n ** 63n)) ? null : w;
}
