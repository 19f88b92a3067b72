import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, type TestDatabase } from '../helpers/databases.js';
import { meltanoProject, pythonToolsSkip, run, TOOLS } from '../helpers/python-tools.js';

const skip = pythonToolsSkip();

/**
 * What a newcomer gets from `meltano run` with only `select:`: no `metadata:`, so discovery's defaults
 * decide. The hypertable and the continuous aggregate must both be read incrementally the second time.
 */
describe.skipIf(skip)(`Meltano with no metadata: discovery's time-series defaults (${skip ?? 'meltano, target-jsonl'})`, () => {
  let db: TestDatabase;
  let project: string;
  let env: Record<string, string>;
  const meltano = (...args: string[]) => run(TOOLS.meltano, args, { cwd: project, env });
  const lines = (stream: string): Record<string, any>[] =>
    readFileSync(join(project, 'output', `${stream}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));

  beforeAll(async () => {
    db = await embeddedDatabase();
    // 4 days of hourly rows for 2 devices; an hourly aggregate with a 2-day refresh policy (run by hand here:
    // the embedded engine has no background workers)
    await db.sql(`
      CREATE TABLE readings (ts timestamptz NOT NULL, device int NOT NULL, v double precision NOT NULL);
      SELECT create_hypertable('readings', by_range('ts', interval '1 day'));
      INSERT INTO readings SELECT '2024-01-01'::timestamptz + h * interval '1 hour', d, h FROM generate_series(0, 95) h, generate_series(1, 2) d;
      CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
        SELECT time_bucket('1 hour', ts) AS bucket, device, count(*) AS n, sum(v) AS total FROM readings GROUP BY 1, 2 WITH NO DATA;
      SELECT add_continuous_aggregate_policy('readings_hourly', start_offset => interval '2 days', end_offset => interval '1 hour',
        schedule_interval => interval '1 hour', initial_start => now() + interval '1 day');`);
    await db.sql(`CALL refresh_continuous_aggregate('readings_hourly', NULL, '2024-01-05 00:00+00')`);
    project = meltanoProject();
    env = {};
  }, 180_000);
  afterAll(async () => db?.close());

  it('meltano run twice: the second run emits only the new rows and the buckets a refresh may have rewritten', async () => {
    // the commands README.md's Meltano quick start shows
    for (const args of [
      ['config', 'set', 'tap-timescaledb', 'url', db.url],
      ['select', 'tap-timescaledb', 'public-readings', '*'],
      ['select', 'tap-timescaledb', 'public-readings_hourly', '*'],
    ]) {
      const r = await meltano(...args);
      expect(r.code, r.stderr).toBe(0);
    }
    const first = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/public-readings: INCREMENTAL on ts/);
    expect(first.stderr).toMatch(/public-readings_hourly: INCREMENTAL on bucket/);
    expect(lines('public-readings')).toHaveLength(192);
    expect(lines('public-readings_hourly')).toHaveLength(192);

    // 6 new hours, a late row inside the policy's window, and the refresh the policy would run
    await db.sql(
      `INSERT INTO readings SELECT '2024-01-05'::timestamptz + h * interval '1 hour', d, 1000 FROM generate_series(0, 5) h, generate_series(1, 2) d`,
    );
    await db.sql(`INSERT INTO readings VALUES ('2024-01-04 12:30+00', 1, 5000)`);
    await db.sql(`CALL refresh_continuous_aggregate('readings_hourly', '2024-01-03 00:00+00', '2024-01-05 06:00+00')`);
    const second = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(second.code, second.stderr).toBe(0);
    // hypertable: the 2 rows at the bookmark (>=) and the 12 new ones, not the 192 again
    const readings = lines('public-readings').slice(192);
    expect(readings).toHaveLength(14);
    expect(readings.filter((r) => r.ts >= '2024-01-05T00:00:00Z')).toHaveLength(12);
    // aggregate: from the bookmark (2024-01-04 23:00) minus the 2-day start_offset, with the late row's bucket rewritten
    const hourly = lines('public-readings_hourly').slice(192);
    const [{ n }] = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM readings_hourly WHERE bucket >= '2024-01-02 23:00+00'`);
    expect(hourly).toHaveLength(Number(n));
    expect(hourly.every((r) => r.bucket >= '2024-01-02T23:00:00Z')).toBe(true);
    expect(hourly.find((r) => r.bucket === '2024-01-04T12:00:00Z' && r.device === 1)).toMatchObject({ n: 2 });
    expect(readdirSync(join(project, 'output')).sort()).toEqual(['public-readings.jsonl', 'public-readings_hourly.jsonl']);

    // metadata: overrides a default (Meltano overwrites the keys at breadcrumb [])
    const set = await meltano(
      'config',
      'set',
      'tap-timescaledb',
      '_metadata',
      JSON.stringify({ 'public-readings_hourly': { 'replication-method': 'FULL_TABLE' } }),
    );
    expect(set.code, set.stderr).toBe(0);
    const third = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/public-readings_hourly: FULL_TABLE/);
    expect(third.stderr).toMatch(/public-readings: INCREMENTAL on ts/);
    const [{ all }] = await db.sql<{ all: string }>('SELECT count(*) AS all FROM readings_hourly');
    expect(lines('public-readings_hourly').length - 192 - hourly.length).toBe(Number(all));
  });
});
