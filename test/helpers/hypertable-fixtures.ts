import { createHash } from 'node:crypto';
import type { TestDatabase } from './databases.js';

/**
 * Hypertables with known chunks, built in one place. Every row has a unique `note` ('r<n>'), so tests
 * compare sets of notes (exact, no float formatting involved) with the source.
 */
export const DAY_MS = 86_400_000;
export const START = Date.parse('2024-01-01T00:00:00Z');

/** `name`: 1-day chunks over `days` days, hashed on device into 2 space partitions, a row every `stepMinutes` per device (4 devices). */
export async function createMetricsHypertable(db: TestDatabase, name: string, days: number, stepMinutes = 60): Promise<void> {
  await db.sql(`
    CREATE TABLE ${name} (ts timestamptz NOT NULL, device int NOT NULL, value double precision, note text NOT NULL);
    SELECT create_hypertable('${name}', by_range('ts', interval '1 day'));
    SELECT add_dimension('${name}', by_hash('device', 2));
    INSERT INTO ${name}
      SELECT t, d, d * 1.5, 'r' || row_number() OVER (ORDER BY t, d)
        FROM generate_series('2024-01-01'::timestamptz, '2024-01-01'::timestamptz + interval '${days} days' - interval '1 minute',
                             interval '${stepMinutes} minutes') t,
             generate_series(1, 4) d;`);
}

/** Integer time dimension: `t` from 1 to `rows`, chunks of 100. */
export async function createIntegerHypertable(db: TestDatabase, name: string, rows: number): Promise<void> {
  await db.sql(`
    CREATE TABLE ${name} (t bigint NOT NULL, v text NOT NULL);
    SELECT create_hypertable('${name}', by_range('t', 100));
    INSERT INTO ${name} SELECT g, 'i' || g FROM generate_series(1, ${rows}) g;`);
}

/**
 * `name`: one row an hour over `days` days in 1-day chunks, no space partition. `ts` is `timeType`
 * (timestamptz, or timestamp read as UTC), `updated_at` starts equal to it, `note` is 'h<hour>'.
 */
export async function createHourlyHypertable(
  db: TestDatabase,
  name: string,
  days: number,
  timeType: 'timestamptz' | 'timestamp' = 'timestamptz',
): Promise<void> {
  await db.sql(`
    CREATE TABLE ${name} (ts ${timeType} NOT NULL, updated_at timestamptz NOT NULL, note text NOT NULL);
    SELECT create_hypertable('${name}', by_range('ts', interval '1 day'));
    INSERT INTO ${name}
      SELECT '2024-01-01'::${timeType} + g * interval '1 hour', '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour', 'h' || g
        FROM generate_series(0, ${days * 24 - 1}) g;`);
}

/** The columns of createHourlyHypertable, for checksums. */
export const HOURLY_COLUMNS: Record<string, ChecksumKind> = { ts: 'time', updated_at: 'time', note: 'text' };

/** Three dimensions: time (1 day, 4 days of data), a hash on device (3 partitions), a second range on zone (100 wide); 1,500 rows. */
export async function createThreeDimensionHypertable(db: TestDatabase, name: string): Promise<void> {
  await db.sql(`
    CREATE TABLE ${name} (ts timestamptz NOT NULL, device int NOT NULL, zone int NOT NULL, note text NOT NULL);
    SELECT create_hypertable('${name}', by_range('ts', interval '1 day'));
    SELECT add_dimension('${name}', by_hash('device', 3));
    SELECT add_dimension('${name}', by_range('zone', 100));
    INSERT INTO ${name} SELECT '2024-01-01'::timestamptz + (g % 96) * interval '1 hour', g % 7, (g * 37) % 200, 's' || g FROM generate_series(1, 1500) g;`);
}

/** The columns of createThreeDimensionHypertable, for checksums. */
export const SPACED_COLUMNS: Record<string, ChecksumKind> = { ts: 'time', device: 'int', zone: 'int', note: 'text' };

export async function sourceNotes(db: TestDatabase, table: string, column = 'note'): Promise<string[]> {
  const rows = await db.sql<{ n: string }>(`SELECT ${column} AS n FROM ${table}`);
  return rows.map((r) => r.n).sort();
}

/** How a column enters a checksum: summed (integers, floats, times as µs since the epoch) or hashed (text, in C order). */
export type ChecksumKind = 'int' | 'float' | 'time' | 'text';

/** Row count and one aggregate per column: equal checksums mean the same multiset of values in every column. */
export interface Checksum {
  readonly rows: number;
  readonly columns: Record<string, string>;
}

/** The checksum computed by the server over the whole table (or the rows `where` selects). */
export async function sourceChecksum(
  db: TestDatabase,
  table: string,
  columns: Record<string, ChecksumKind>,
  where = 'true',
): Promise<Checksum> {
  const aggs = Object.entries(columns).map(([c, kind]) => {
    const col = `"${c}"`;
    const agg = {
      int: `sum(${col}::numeric)::text`,
      float: `round(sum(${col}::numeric), 6)::text`,
      time: `sum((extract(epoch FROM ${col}) * 1000000)::int8::numeric)::text`,
      text: `md5(coalesce(string_agg(${col}, ',' ORDER BY ${col} COLLATE "C"), ''))`,
    }[kind];
    return `${agg} AS "${c}"`;
  });
  const [row] = await db.sql(`SELECT count(*)::int AS _rows, ${aggs.join(', ')} FROM ${table} WHERE ${where}`);
  const { _rows, ...rest } = row!;
  return { rows: Number(_rows), columns: Object.fromEntries(Object.entries(columns).map(([c]) => [c, rest[c] ?? '0'])) };
}

/** The same checksum over the RECORDs a tap emitted. */
export function recordsChecksum(rows: Record<string, any>[], columns: Record<string, ChecksumKind>): Checksum {
  const out: Record<string, string> = {};
  for (const [c, kind] of Object.entries(columns)) {
    const values = rows.map((r) => r[c]).filter((v) => v !== null && v !== undefined);
    if (kind === 'text') out[c] = createHash('md5').update(values.map(String).sort().join(',')).digest('hex');
    else if (kind === 'time') out[c] = values.reduce((s: bigint, v: string) => s + epochMicros(v), 0n).toString();
    else if (kind === 'int') out[c] = values.reduce((s: bigint, v: number | string) => s + BigInt(v), 0n).toString();
    else out[c] = values.reduce((s: number, v: number) => s + v, 0).toFixed(6);
  }
  return { rows: rows.length, columns: out };
}

/** RFC 3339 (as the tap writes timestamps) -> µs since the epoch, exact. */
function epochMicros(value: string): bigint {
  const m = /^(.*?)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?$/.exec(value)!;
  return BigInt(Date.parse(`${m[1]}${m[3] ?? 'Z'}`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** The columns of createMetricsHypertable, for checksums. */
export const METRICS_COLUMNS: Record<string, ChecksumKind> = { ts: 'time', device: 'int', value: 'float', note: 'text' };

/** Chunk counts by kind from TimescaleDB's own catalog: `compressed` counts every compressed chunk, `partial` those also holding uncompressed rows (status bit 8). */
export async function chunkKinds(
  db: TestDatabase,
  table: string,
): Promise<{ total: number; plain: number; compressed: number; partial: number }> {
  const rows = await db.sql<{ compressed: boolean; partial: boolean }>(
    `SELECT c.is_compressed AS compressed, (k.status & 8) <> 0 AS partial
       FROM timescaledb_information.chunks c JOIN _timescaledb_catalog.chunk k ON k.schema_name = c.chunk_schema AND k.table_name = c.chunk_name
      WHERE c.hypertable_name = $1`,
    [table],
  );
  const compressed = rows.filter((r) => r.compressed).length;
  return { total: rows.length, plain: rows.length - compressed, compressed, partial: rows.filter((r) => r.partial).length };
}
