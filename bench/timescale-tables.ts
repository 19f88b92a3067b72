/**
 * The bench's tables on the native TimescaleDB (2.28, preloaded by scripts/native-postgres.sh): data like
 * issue #18's (timestamptz with milliseconds, int, text, a 17-digit double from random(), smallint, jsonb),
 * which costs the transcoder more than the older `wide` table's whole seconds and short numbers.
 */

/** Runs SQL on the bench database (one statement or several; no result needed). */
export type Sql = (text: string) => Promise<{ [column: string]: unknown }[]>;

export interface TimescaleTables {
  /** `--hypertable-rows` rows in 50 one-day chunks, the oldest 10 compressed */
  readonly hypertable: string;
  /** the same rows in a plain table without a key */
  readonly plain: string;
  /** 2M rows (scaled with --rows) with PRIMARY KEY (device_id, ts) */
  readonly keyed: string;
  /** the keyed table's rows and key again, without statistics (its pg_statistic rows deleted, autovacuum off) */
  readonly keyedNoStats: string;
  /** the Python taps' hypertable: the same shape, 50 chunks, 10 compressed, chunks in its own schema */
  readonly subset: string;
  /** LOG_BASED: an uncompressed hypertable with PRIMARY KEY (device_id, ts), 10 one-day chunks */
  readonly changes: string;
}

export const TIMESCALE_TABLES: TimescaleTables = {
  hypertable: 'public.metrics_ht',
  plain: 'public.metrics_plain',
  keyed: 'public.metrics_keyed',
  keyedNoStats: 'public.metrics_keyed_nostats',
  subset: 'bench_ht_sub.metrics_ht_sub',
  changes: 'public.metrics_cdc',
};

export const CHUNKS = 50;
export const COMPRESSED_CHUNKS = 10;
const START = `'2024-01-01 00:00:00+00'::timestamptz`;

const COLUMNS = 'ts timestamptz NOT NULL, device_id int NOT NULL, name text, value double precision, status smallint, attrs jsonb';

/**
 * n rows over `days` days from 2024-01-01 (UTC midnight, which one-day chunks align to), with millisecond
 * timestamps (`i * step + i % 997` ms: never a whole second for most rows) and random() doubles (17
 * significant digits as PostgreSQL prints them). The last row ends a second before the last day does, so
 * the rows make exactly `days` chunks. device_id cycles through 1000 values, so (device_id, ts) is unique.
 */
export function metricsSelect(n: number, days: number): string {
  const stepMs = Math.floor((days * 86_400_000 - 1000) / n);
  return `SELECT ${START} + (i * ${stepMs} + i % 997) * interval '1 millisecond' AS ts,
      (i % 1000)::int AS device_id, 'sensor-' || (i % 1000) || '/floor ' || (i % 23) AS name,
      random() AS value, (i % 7)::smallint AS status,
      jsonb_build_object('fw', 'v2.' || (i % 13), 'ok', i % 3 = 0, 'battery', round((random() * 100)::numeric, 1)) AS attrs
    FROM generate_series(0, ${n - 1}::int8) i`;
}

/** A hypertable of `days` one-day chunks holding metricsSelect(n), the oldest `compressed` chunks compressed. */
function hypertableSql(table: string, n: number, days: number, compressed: number, schema?: string): string {
  // chunks in the hypertable's own schema (associated_schema_name, which only the older create_hypertable
  // signature takes), so a tap filtering on that schema lists them; no index: every contender reads it all
  const assoc = schema ? `, associated_schema_name => '${schema}'` : '';
  return `CREATE TABLE ${table} (${COLUMNS});
    SELECT create_hypertable('${table}', 'ts', chunk_time_interval => interval '1 day'${assoc}, create_default_indexes => false);
    INSERT INTO ${table} ${metricsSelect(n, days)};
    ${compressionSql(table, compressed)}`;
}

function compressionSql(table: string, compressed: number): string {
  if (compressed === 0) return '';
  return `ALTER TABLE ${table} SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id', timescaledb.compress_orderby = 'ts');
    SELECT count(compress_chunk(c)) FROM show_chunks('${table}', older_than => ${START} + interval '${compressed} days') c;`;
}

/** What the bench needs of the native server: a way to run SQL, and a generator that skips tables of the right size. */
export interface TableMaker {
  readonly sql: Sql;
  /** runs `build` (then VACUUM (FREEZE, ANALYZE)) unless bench_meta says `name` already holds n rows */
  make(name: string, n: number, build: string): Promise<void>;
}

/**
 * Creates the TimescaleDB extension in the bench database, or says why it cannot (a data dir made before
 * TimescaleDB was installed has no shared_preload_libraries: delete it). Returns the extension's version.
 */
export async function ensureTimescale(sql: Sql): Promise<string> {
  await sql(`CREATE EXTENSION IF NOT EXISTS timescaledb`);
  const [row] = await sql(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
  return String(row!.extversion);
}

/** The hypertable and the plain copy of its rows. */
export async function makeHypertables(m: TableMaker, rows: number): Promise<void> {
  const t = TIMESCALE_TABLES;
  await m.make(t.hypertable, rows, hypertableSql(t.hypertable, rows, CHUNKS, COMPRESSED_CHUNKS));
  // the same rows, read back from the hypertable (random() would give others), in a table without a key
  await m.make(t.plain, rows, `CREATE TABLE ${t.plain} AS SELECT * FROM ${t.hypertable}`);
}

export async function makeKeyed(m: TableMaker, rows: number): Promise<void> {
  const t = TIMESCALE_TABLES.keyed;
  await m.make(t, rows, `CREATE TABLE ${t} (${COLUMNS}, PRIMARY KEY (device_id, ts)); INSERT INTO ${t} ${metricsSelect(rows, CHUNKS)};`);
}

/**
 * The keyed table's rows in a table of the same key that the server holds no statistics on, as after a
 * restore, a bulk load or a statistics reset: the maker's VACUUM (FREEZE, ANALYZE) sets the hint bits,
 * then its pg_statistic rows are deleted (the bench's role is the cluster's superuser), on every run, and
 * autovacuum is off for it so that nothing analyzes it meanwhile.
 */
export async function makeKeyedNoStats(m: TableMaker, rows: number): Promise<void> {
  const t = TIMESCALE_TABLES.keyedNoStats;
  await m.make(
    t,
    rows,
    `CREATE TABLE ${t} (${COLUMNS}, PRIMARY KEY (device_id, ts)) WITH (autovacuum_enabled = false);
    INSERT INTO ${t} SELECT * FROM ${TIMESCALE_TABLES.keyed};`,
  );
  await m.sql(`DELETE FROM pg_catalog.pg_statistic WHERE starelid = '${t}'::regclass`);
}

export async function makeSubset(m: TableMaker, rows: number): Promise<void> {
  const t = TIMESCALE_TABLES.subset;
  const schema = t.split('.')[0]!;
  await m.sql(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await m.make(t, rows, hypertableSql(t, rows, CHUNKS, COMPRESSED_CHUNKS, schema));
}

/** The LOG_BASED table: a key (deletes and updates are keyed by it), no compression. */
export async function makeChanges(m: TableMaker, rows: number): Promise<void> {
  const t = TIMESCALE_TABLES.changes;
  await m.make(
    t,
    rows,
    `CREATE TABLE ${t} (${COLUMNS}, PRIMARY KEY (device_id, ts));
    SELECT create_hypertable('${t}', by_range('ts', interval '1 day'));
    INSERT INTO ${t} ${metricsSelect(rows, 10)};`,
  );
}

/** Chunks of a hypertable, and how many are compressed (for the report's section titles). */
export async function chunkCounts(sql: Sql, table: string): Promise<{ chunks: number; compressed: number }> {
  const [schema, name] = table.split('.');
  const [row] = await sql(
    `SELECT count(*)::int AS chunks, count(*) FILTER (WHERE is_compressed)::int AS compressed
       FROM timescaledb_information.chunks WHERE hypertable_schema = '${schema}' AND hypertable_name = '${name}'`,
  );
  return { chunks: Number(row!.chunks), compressed: Number(row!.compressed) };
}
