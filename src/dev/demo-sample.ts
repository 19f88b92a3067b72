import pg from 'pg';

/**
 * The demo's sample database, also the one the catalog examples are written for (catalog-examples/,
 * kept true by test/e2e/catalog-examples.test.ts): a sensor hypertable with compressed and
 * uncompressed chunks, a plain table, and a continuous aggregate over the hypertable.
 * Fixed dates, so every run (and every test) sees the same rows.
 */
export const SAMPLE = {
  /** 14 one-day chunks from this day; the first 7 are compressed */
  firstDay: '2024-06-01',
  days: 14,
  compressedDays: 7,
  devices: 5,
  stepMinutes: 1,
} as const;

export interface SampleCounts {
  readonly sensors: number;
  readonly chunks: number;
  readonly compressedChunks: number;
  readonly devices: number;
  readonly hourly: number;
}

/** Creates the sample in the database at `url` (which must have the timescaledb extension). */
export async function createSample(url: string): Promise<SampleCounts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { firstDay, days, compressedDays, devices, stepMinutes } = SAMPLE;
    await client.query(`
      CREATE TABLE devices (
        id int PRIMARY KEY, name text NOT NULL, site text NOT NULL, installed_on date NOT NULL,
        tags text[] NOT NULL DEFAULT '{}', updated_at timestamptz NOT NULL);
      INSERT INTO devices
        SELECT d, 'sensor-' || d, (ARRAY['north', 'south', 'lab'])[1 + d % 3], date '2023-01-01' + d * 30,
               ARRAY['floor-' || (d % 2 + 1)], timestamptz '${firstDay}' - interval '1 day' + d * interval '1 hour'
          FROM generate_series(1, ${devices}) d;

      CREATE TABLE sensors (
        ts timestamptz NOT NULL, device_id int NOT NULL REFERENCES devices (id),
        temperature double precision, humidity numeric(5, 2), status jsonb);
      SELECT create_hypertable('sensors', by_range('ts', interval '1 day'));
      INSERT INTO sensors
        SELECT t, d,
               round((20 + 5 * sin(extract(epoch FROM t) / 3600.0) + d)::numeric, 3)::float8,
               (40 + (extract(epoch FROM t)::bigint / 60 + d) % 30)::numeric(5, 2),
               jsonb_build_object('ok', (extract(epoch FROM t)::bigint / 300 + d) % 97 <> 0)
          FROM generate_series(timestamptz '${firstDay}', timestamptz '${firstDay}' + interval '${days} days' - interval '1 minute',
                               interval '${stepMinutes} minutes') t,
               generate_series(1, ${devices}) d;
      ALTER TABLE sensors SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id', timescaledb.compress_orderby = 'ts');
      SELECT count(compress_chunk(c))
        FROM show_chunks('sensors', older_than => timestamptz '${firstDay}' + interval '${compressedDays} days') c;

      CREATE MATERIALIZED VIEW sensors_hourly WITH (timescaledb.continuous) AS
        SELECT time_bucket('1 hour', ts) AS bucket, device_id, avg(temperature) AS avg_temperature, max(humidity) AS max_humidity
          FROM sensors GROUP BY 1, 2 WITH NO DATA;
      -- a refresh policy as production has one: INCREMENTAL re-reads its start_offset window before the
      -- bookmark (the embedded engine has no background workers: the demo refreshes by hand)
      SELECT add_continuous_aggregate_policy('sensors_hourly', start_offset => interval '1 day', end_offset => interval '1 hour',
        schedule_interval => interval '1 hour');`);
    // a CALL cannot run inside the implicit transaction of a multi-statement query
    await client.query(`CALL refresh_continuous_aggregate('sensors_hourly', NULL, NULL)`);
    return await sampleCounts(client);
  } finally {
    await client.end();
  }
}

async function sampleCounts(client: pg.Client): Promise<SampleCounts> {
  const { rows } = await client.query<Record<keyof SampleCounts, string>>(`
    SELECT (SELECT count(*) FROM sensors) AS sensors,
           (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'sensors') AS chunks,
           (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'sensors' AND is_compressed) AS "compressedChunks",
           (SELECT count(*) FROM devices) AS devices,
           (SELECT count(*) FROM sensors_hourly) AS hourly`);
  const r = rows[0]!;
  return { sensors: +r.sensors, chunks: +r.chunks, compressedChunks: +r.compressedChunks, devices: +r.devices, hourly: +r.hourly };
}
