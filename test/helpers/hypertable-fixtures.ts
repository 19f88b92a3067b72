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

export async function sourceNotes(db: TestDatabase, table: string, column = 'note'): Promise<string[]> {
  const rows = await db.sql<{ n: string }>(`SELECT ${column} AS n FROM ${table}`);
  return rows.map((r) => r.n).sort();
}
