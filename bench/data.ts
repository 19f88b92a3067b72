import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { startEmbeddedTimescaleDb, type EmbeddedTimescaleDb } from '../src/testing/embedded-timescaledb.js';
import type { TableMaker } from './timescale-tables.js';

/** The repository: this file runs built (dist/bench) under `npm run bench`, and from bench/ in the tests. */
export const REPO = resolve(import.meta.dirname, basename(dirname(import.meta.dirname)) === 'dist' ? '../..' : '..');
const NATIVE_SCRIPT = join(REPO, 'scripts/native-postgres.sh');

/** The tables every contender reads, by role. Sizes derive from --rows. */
export interface BenchTables {
  /** N rows, the shape (timestamptz, int, text, double, smallint, small jsonb), no key */
  readonly wide: string;
  /** N rows, 3 columns */
  readonly narrow: string;
  /** the same N rows, natively partitioned by day on ts */
  readonly partitioned: string;
  /** the first `subsetRows` rows, in their own schema so the Python taps discover only it */
  readonly subset: string;
  /** N/5 and 4N rows (1M and 20M at the default N) for peak RSS against table size */
  readonly rssSmall: string;
  readonly rssBig?: string;
}

export interface NativeServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  sql(text: string): Promise<pg.QueryResultRow[]>;
  stop(): Promise<void>;
}

/** One row of the shape for i (an int8 expression): spread over `days` days from 2024-01-01. */
function wideSelect(n: number, days: number): string {
  const stepUs = Math.floor((days * 86_400e6) / n);
  return `SELECT '2024-01-01 00:00:00+00'::timestamptz + (i * ${stepUs}) * interval '1 microsecond' AS ts,
      (i % 1000)::int AS device, 'device-' || (i % 1000) || '/room ' || (i % 37) AS name,
      ((i % 100003) * 0.125 + 0.5)::float8 AS value, (i % 5)::smallint AS status,
      jsonb_build_object('fw', 'v1.' || (i % 7), 'ok', i % 3 = 0, 'n', i % 11) AS attrs
    FROM generate_series(0, ${n - 1}::int8) i`;
}

const WIDE_COLUMNS = 'ts timestamptz NOT NULL, device int NOT NULL, name text, value double precision, status smallint, attrs jsonb';

/**
 * Starts a native PostgreSQL 15 cluster of the bench's own (data dir and port, see
 * scripts/native-postgres.sh) and fills it, unless it already holds tables of these sizes (a
 * `bench_meta` row records them), so a second run measures without regenerating.
 */
export async function startNative(
  rows: number,
  subsetRows: number,
  days: number,
  withBig: boolean,
  log: (m: string) => void,
  /** which tables the sections to run read (--only): the others are not generated */
  need: (role: keyof BenchTables) => boolean = () => true,
): Promise<{ server: NativeServer; tables: BenchTables; maker: TableMaker }> {
  const dir = process.env.BENCH_PG_DIR ?? join(tmpdir(), 'tap-timescaledb-bench-pg');
  const port = Number(process.env.BENCH_PG_PORT ?? 54339);
  const admin = execFileSync('bash', [NATIVE_SCRIPT, 'start', dir, String(port)], { encoding: 'utf8' }).trim();
  const database = 'bench';
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  const exists = (await root.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database])).rowCount! > 0;
  if (!exists) await root.query(`CREATE DATABASE ${database}`);
  await root.end();
  const url = admin.replace(/\/[^/]*$/, `/${database}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const server: NativeServer = {
    url,
    host: '127.0.0.1',
    port,
    database,
    sql: async (text) => (await client.query(text)).rows,
    async stop() {
      await client.end();
      execFileSync('bash', [NATIVE_SCRIPT, 'stop', dir, String(port)]);
    },
  };
  const tables: BenchTables = {
    wide: 'public.wide',
    narrow: 'public.narrow',
    partitioned: 'public.wide_part',
    subset: 'bench_sub.wide_sub',
    rssSmall: 'public.rss_small',
    rssBig: withBig ? 'public.rss_big' : undefined,
  };
  await client.query(`CREATE TABLE IF NOT EXISTS bench_meta (name text PRIMARY KEY, rows int8 NOT NULL)`);
  const have = new Map(
    (await client.query<{ name: string; rows: string }>(`SELECT name, rows FROM bench_meta`)).rows.map((r) => [r.name, Number(r.rows)]),
  );
  const make = async (name: string, n: number, build: string): Promise<void> => {
    if (have.get(name) === n) return;
    log(`native: generating ${name} (${n.toLocaleString('en')} rows)`);
    const t0 = Date.now();
    await client.query(`DROP TABLE IF EXISTS ${name} CASCADE`);
    await client.query(build);
    await client.query(`VACUUM (FREEZE, ANALYZE) ${name}`); // hint bits set now, not during the first contender's read
    await client.query(`INSERT INTO bench_meta VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET rows = EXCLUDED.rows`, [name, n]);
    have.set(name, n); // a later section of this run reuses it (the hypertable was generated twice per run)
    log(`native: ${name} ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  };
  const maker: TableMaker = { sql: server.sql, make };
  await client.query(`CREATE SCHEMA IF NOT EXISTS bench_sub`);
  // wide_part is filled from wide
  if (need('wide') || need('partitioned')) await make(tables.wide, rows, `CREATE TABLE ${tables.wide} AS ${wideSelect(rows, days)}`);
  if (need('narrow'))
    await make(tables.narrow, rows, `CREATE TABLE ${tables.narrow} AS SELECT ts, device, value FROM (${wideSelect(rows, days)}) w`);
  if (need('subset')) await make(tables.subset, subsetRows, `CREATE TABLE ${tables.subset} AS ${wideSelect(subsetRows, days)}`);
  if (need('rssSmall'))
    await make(tables.rssSmall, Math.round(rows / 5), `CREATE TABLE ${tables.rssSmall} AS ${wideSelect(Math.round(rows / 5), days)}`);
  if (tables.rssBig && need('rssBig'))
    await make(tables.rssBig, rows * 4, `CREATE TABLE ${tables.rssBig} AS ${wideSelect(rows * 4, days)}`);
  const parts = Array.from({ length: days }, (_, d) => {
    const from = new Date(Date.UTC(2024, 0, 1 + d)).toISOString();
    const to = new Date(Date.UTC(2024, 0, 2 + d)).toISOString();
    return `CREATE TABLE ${tables.partitioned}_d${d} PARTITION OF ${tables.partitioned} FOR VALUES FROM ('${from}') TO ('${to}');`;
  });
  if (!need('partitioned')) return { server, tables, maker };
  await make(
    tables.partitioned,
    rows,
    `CREATE TABLE ${tables.partitioned} (${WIDE_COLUMNS}) PARTITION BY RANGE (ts);
    ${parts.join('\n')}
    INSERT INTO ${tables.partitioned} SELECT * FROM ${tables.wide};`,
  );
  return { server, tables, maker };
}

export interface EmbeddedTables {
  readonly engine: EmbeddedTimescaleDb;
  /** N rows of the wide shape as a hypertable of `days` 1-day chunks */
  readonly hypertable: string;
  /** 200 1-hour chunks for the incremental run */
  readonly incremental: string;
  readonly incrementalRows: number;
  sql(text: string): Promise<pg.QueryResultRow[]>;
}

/**
 * The embedded TimescaleDB (PGlite + the real extension in WASM, one connection at a time), with a
 * hypertable of the wide shape and a 200-chunk hypertable for the incremental run.
 */
export async function startEmbedded(
  rows: number,
  incrementalRows: number,
  days: number,
  log: (m: string) => void,
): Promise<EmbeddedTables> {
  const engine = await startEmbeddedTimescaleDb();
  const sql = (text: string): Promise<pg.QueryResultRow[]> => engine.sql(text);
  const t0 = Date.now();
  log(
    `embedded: generating wide_ht (${rows.toLocaleString('en')} rows, ${days} chunks) and inc_ht (${incrementalRows.toLocaleString('en')} rows, 200 chunks)`,
  );
  await sql(`CREATE TABLE wide_ht (${WIDE_COLUMNS});
    SELECT create_hypertable('wide_ht', by_range('ts', interval '1 day'));
    INSERT INTO wide_ht ${wideSelect(rows, days)};
    CREATE TABLE inc_ht (${WIDE_COLUMNS});
    SELECT create_hypertable('inc_ht', by_range('ts', interval '1 hour'));
    INSERT INTO inc_ht ${wideSelect(incrementalRows, 200 / 24)};`);
  log(`embedded: ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { engine, hypertable: 'public.wide_ht', incremental: 'public.inc_ht', incrementalRows, sql };
}

/** Rows into the newest chunk of the incremental hypertable only: after its last ts, inside its hour. */
export async function appendToNewestChunk(emb: EmbeddedTables, n: number): Promise<void> {
  await emb.sql(`INSERT INTO inc_ht (ts, device, name, value, status, attrs)
    SELECT m + i * interval '1 microsecond', 1, 'new', i, 0, '{}'::jsonb
      FROM (SELECT max(ts) AS m FROM inc_ht) x, generate_series(1, ${n}) i`);
}
