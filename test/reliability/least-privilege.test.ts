import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import {
  embeddedDatabase,
  nativeSkipReason,
  nativeTimescaleDatabase,
  nativeTimescaleSkipReason,
  type TestDatabase,
} from '../helpers/databases.js';
import { createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import { records, runTap, select, tmpJson, type Selection, type TapRun } from '../helpers/run-tap.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';

const PASSWORD = 'Lp-s3cret-horse-8812';
const APP = 'tap-least-privilege';
const PROBE = new URL('./fixtures/session-probe-plugin.mjs', import.meta.url).pathname;

/** The statements the server logged for one application_name, each with its continuation lines. */
function loggedStatements(log: string, app: string): string[] {
  const out: string[] = [];
  for (const line of log.split('\n')) {
    const m = new RegExp(`^${app}\\|LOG:  (?:statement|execute [^:]*): (.*)$`).exec(line);
    if (m) out.push(m[1]!);
    else if (line.startsWith('\t') && out.length > 0 && !/^\S/.test(line)) out[out.length - 1] += '\n' + line;
  }
  return out;
}

const READ_ONLY = /^(SELECT|WITH|COPY \(SELECT|SET |SHOW |BEGIN|COMMIT|ROLLBACK)/;
const WRITE =
  /(^|;\s*)(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|LOCK|VACUUM|ANALYZE|CLUSTER|REINDEX|COMMENT|REFRESH|CALL|DO|SELECT\s.*\bINTO\b)/im;

/**
 * A role with SELECT on the user tables and USAGE on their schema, nothing more, on a cluster of this
 * file that logs every statement (log_statement = all, application_name in the prefix) and asks for a
 * password: discovery and sync work, the server log shows no statement of the tap that writes, and the
 * password appears in no log.
 */
describe.skipIf(nativeSkipReason)('least privilege on native PostgreSQL', () => {
  let cluster: OwnCluster;
  let config: string;
  const runs: TapRun[] = [];
  beforeAll(async () => {
    cluster = startOwnCluster();
    await cluster.sql(`CREATE DATABASE lp`);
    await cluster.sql(
      `REVOKE ALL ON SCHEMA public FROM PUBLIC;
      CREATE SCHEMA app;
      CREATE TABLE app.orders(id int PRIMARY KEY, placed_at timestamptz NOT NULL, total numeric);
      INSERT INTO app.orders SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour', g * 1.5 FROM generate_series(1, 500) g;
      CREATE TABLE app.events(id int NOT NULL, v text) PARTITION BY RANGE (id);
      CREATE TABLE app.events_1 PARTITION OF app.events FOR VALUES FROM (1) TO (301);
      CREATE TABLE app.events_2 PARTITION OF app.events FOR VALUES FROM (301) TO (601);
      INSERT INTO app.events SELECT g, 'e' || g FROM generate_series(1, 600) g;
      CREATE ROLE tap_reader LOGIN PASSWORD '${PASSWORD}';
      GRANT USAGE ON SCHEMA app TO tap_reader;
      GRANT SELECT ON app.orders, app.events, app.events_1, app.events_2 TO tap_reader;`,
      [],
      'lp',
    );
    for (const setting of [`log_statement = 'all'`, `log_line_prefix = '%a|'`, `log_connections = on`])
      await cluster.sql(`ALTER SYSTEM SET ${setting}`);
    await cluster.setHostAuth(['host all all 127.0.0.1/32 scram-sha-256']);
    const probe = { module: PROBE, options: { sql: 'SELECT current_user AS who' } };
    config = tmpJson({ url: cluster.url('tap_reader', PASSWORD, 'lp'), application_name: APP, state_every_n_rows: 100, plugins: [probe] });
  });
  afterAll(() => cluster?.destroy());

  it('discovery and a sync of a table (FULL_TABLE, then INCREMENTAL) and a partitioned table work as tap_reader', async () => {
    const discovered = await runTap(['--config', config, '--discover']);
    runs.push(discovered);
    expect(discovered.code, discovered.stderr).toBe(0);
    const catalog = JSON.parse(discovered.stdout);
    expect(catalog.streams.map((s: { tap_stream_id: string }) => s.tap_stream_id).sort()).toEqual(['app-events', 'app-orders']);
    const selections: Record<string, Selection>[] = [
      { 'app-orders': {}, 'app-events': {} },
      { 'app-orders': { method: 'INCREMENTAL', key: 'placed_at' } },
    ];
    for (const sel of selections) {
      const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, sel))]);
      runs.push(run);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('PROBE [{"who":"tap_reader"}]');
      expect(records(run.messages, 'app-orders')).toHaveLength(500);
      if ('app-events' in sel) expect(new Set(records(run.messages, 'app-events').map((r) => r.id)).size).toBe(600);
    }
  });

  it('the server log holds only reads from the tap, and the password appears in no log', () => {
    const log = cluster.log();
    const statements = loggedStatements(log, APP);
    expect(statements.length).toBeGreaterThan(10);
    const notRead = statements.filter((s) => !READ_ONLY.test(s.trimStart()) || WRITE.test(s));
    expect(notRead).toEqual([]);
    console.log(
      `least privilege: ${statements.length} statements logged for the tap, all reads; first words: ${[...new Set(statements.map((s) => s.split(/\s/)[0]))].join(', ')}`,
    );
    expect(log).not.toContain(PASSWORD);
    for (const run of runs) expect(run.stderr + run.stdout).not.toContain(PASSWORD);
  });
});

/**
 * The embedded engine (PGlite) runs one session for every connection: a role set by SET ROLE on the
 * admin connection is the role of the tap's connection too, so privileges can be taken away for real.
 */
describe('least privilege on the embedded TimescaleDB: no access to the TimescaleDB catalog', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await embeddedDatabase();
    await createMetricsHypertable(db, 'metrics', 3, 60);
    await db.sql(`CREATE ROLE tap_reader; GRANT USAGE ON SCHEMA public TO tap_reader; GRANT SELECT ON metrics TO tap_reader;
      REVOKE ALL ON SCHEMA _timescaledb_catalog, _timescaledb_internal FROM PUBLIC;
      REVOKE SELECT ON ALL TABLES IN SCHEMA _timescaledb_catalog FROM PUBLIC;`);
  });
  afterAll(async () => db?.close());

  it('chunk discovery fails → the hypertable is read in one query, with a warning, and every row still arrives', async () => {
    const probe = { module: PROBE, options: { sql: 'SELECT current_user AS who' } };
    const config = tmpJson({ url: db.url, plugins: [probe] });
    await db.sql('SET ROLE tap_reader');
    let discovered: TapRun;
    let run: TapRun;
    try {
      discovered = await runTap(['--config', config, '--discover']);
      expect(discovered.code, discovered.stderr).toBe(0);
      const catalog = JSON.parse(discovered.stdout);
      run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-metrics': {} }))]);
    } finally {
      await db.sql('RESET ROLE');
    }
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('PROBE [{"who":"tap_reader"}]');
    expect(run.stderr).toMatch(
      /WARN public-metrics: cannot list the chunks of this hypertable \(permission denied for schema _timescaledb_catalog\): it is read in one query/,
    );
    expect(run.stderr).toMatch(/public-metrics: FULL_TABLE with reader timescaledb-chunks/);
    expect(
      records(run.messages)
        .map((r) => r.note)
        .sort(),
    ).toEqual(await sourceNotes(db, 'metrics'));
  });
});

/**
 * A role with SELECT on one hypertable and USAGE on its schema, on the native TimescaleDB 2.28, in a
 * database where another compression-enabled hypertable sits in a schema the role cannot use: first
 * with TimescaleDB's catalog readable (as it is by default), then with it revoked from PUBLIC.
 */
describe.skipIf(!!nativeTimescaleSkipReason && !process.env.CI)(
  'least privilege on native TimescaleDB: its catalog readable, then revoked',
  () => {
    let db: TestDatabase;
    let config: string;
    const role = `tap_lp_${Math.random().toString(36).slice(2, 8)}`;
    beforeAll(async () => {
      db = await nativeTimescaleDatabase();
      await createMetricsHypertable(db, 'metrics', 4, 60);
      await db.sql(`ALTER TABLE metrics SET (timescaledb.compress);
      SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-03'::timestamptz) c;
      CREATE SCHEMA hidden; CREATE TABLE hidden.secret (ts timestamptz NOT NULL, v int);
      SELECT create_hypertable('hidden.secret', by_range('ts')); ALTER TABLE hidden.secret SET (timescaledb.compress);
      REVOKE ALL ON SCHEMA public FROM PUBLIC; ANALYZE metrics;
      CREATE ROLE ${role} LOGIN; GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON metrics TO ${role};`);
      config = tmpJson({ url: db.url.replace('//postgres@', `//${role}@`), timescaledb_chunk_discovery_interval_minutes: 0 });
    });
    afterAll(async () => {
      await db?.close();
      const admin = new pg.Client({ connectionString: inject('nativeUrl') });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    });

    it('catalog readable: discovery lists the readable hypertable with one warning for what it cannot see; the sync reads it chunk by chunk', async () => {
      const discovered = await runTap(['--config', config, '--discover']);
      expect(discovered.code, discovered.stderr).toBe(0);
      const catalog = JSON.parse(discovered.stdout);
      expect(catalog.streams.map((s: { tap_stream_id: string }) => s.tap_stream_id)).toEqual(['public-metrics']);
      expect(discovered.stderr.match(/^WARN /gm) ?? []).toHaveLength(discovered.stderr.includes('compression metadata left out') ? 1 : 0);
      const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-metrics': {} }))]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('public-metrics: FULL_TABLE with reader timescaledb-chunks');
      expect(run.stderr).not.toContain('cannot list the chunks');
      expect(
        records(run.messages)
          .map((r) => r.note)
          .sort(),
      ).toEqual(await sourceNotes(db, 'metrics'));
    });

    it('catalog revoked: discovery still works (with a warning), and INCREMENTAL reads the hypertable in one query that keeps late_arrival_lookback', async () => {
      await db.sql(`REVOKE SELECT ON ALL TABLES IN SCHEMA _timescaledb_catalog FROM PUBLIC`);
      const discovered = await runTap(['--config', config, '--discover']);
      expect(discovered.code, discovered.stderr).toBe(0);
      expect(discovered.stderr).toMatch(/WARN .*(permission denied)/);
      const catalog = JSON.parse(discovered.stdout);
      expect(catalog.streams.map((s: { tap_stream_id: string }) => s.tap_stream_id)).toEqual(['public-metrics']);
      await db.sql(
        `INSERT INTO metrics VALUES ('2024-01-04 12:00+00', 1, 0, 'late-inside'), ('2024-01-02 00:00+00', 1, 0, 'late-outside')`,
      );
      const state = tmpJson({ bookmarks: { 'public-metrics': { replication_key: 'ts', replication_key_value: '2024-01-04T23:00:00Z' } } });
      const cat = tmpJson(select(catalog, { 'public-metrics': { method: 'INCREMENTAL', key: 'ts' } }));
      const withLookback = tmpJson({ ...JSON.parse(readFileSync(config, 'utf8')), late_arrival_lookback: '1 day' });
      const run = await runTap(['--config', withLookback, '--catalog', cat, '--state', state]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(
        /WARN public-metrics: cannot list the chunks of this hypertable \(permission denied .*\): it is read in one query .*late_arrival_lookback still applies/,
      );
      const notes = records(run.messages).map((r) => r.note);
      expect(notes).toContain('late-inside');
      expect(notes).not.toContain('late-outside');
      expect(notes.sort()).toEqual(
        (await db.sql<{ note: string }>(`SELECT note FROM metrics WHERE ts >= '2024-01-03T23:00:00Z'`)).map((r) => r.note).sort(),
      );
    });
  },
);
