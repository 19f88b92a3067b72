import pg from 'pg';
import { describe, inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startEmbeddedTimescaleDb, type EmbeddedTimescaleDb } from '../../src/testing/embedded-timescaledb.js';

/** A database for one test file; `url` is what goes into the tap's config. */
export interface TestDatabase {
  readonly url: string;
  readonly kind: 'native' | 'native-timescaledb' | 'embedded' | 'external' | 'container';
  /** runs SQL as the admin (one statement or several separated by ;) */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** Why native tests skip on this machine, or undefined when the native server runs. */
export const nativeSkipReason: string | undefined = inject('nativeUrl') ? undefined : inject('nativeSkip') || 'no native server';

/** A fresh, empty database on the native PostgreSQL server the global setup started. */
export async function nativeDatabase(): Promise<TestDatabase> {
  const admin = inject('nativeUrl');
  if (!admin) throw new Error(`native PostgreSQL is not running: ${nativeSkipReason}`);
  const name = `tap_test_${randomBytes(5).toString('hex')}`;
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  await root.query(`CREATE DATABASE ${name}`);
  await root.end();
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    url,
    kind: 'native',
    sql: async (text, params) => (await client.query(text, params)).rows,
    async close() {
      await client.end();
      const r = new pg.Client({ connectionString: admin });
      await r.connect();
      await r.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await r.end();
    },
  };
}

/**
 * The embedded TimescaleDB (PGlite + TimescaleDB over a local socket). It takes one connection at a
 * time, so the admin client here connects per statement and never holds the connection while the tap runs.
 * With `dataDir`, the database is kept on disk (see startEmbeddedTimescaleDb on a restart).
 */
export async function embeddedDatabase(options: { dataDir?: string } = {}): Promise<TestDatabase & { engine: EmbeddedTimescaleDb }> {
  const engine = await startEmbeddedTimescaleDb(options);
  return {
    url: engine.url,
    kind: 'embedded',
    engine,
    async sql<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]> {
      // PGlite shares one session between connections: undo what the tap SET (not RESET ALL:
      // PGlite's search_path default would become pg_catalog)
      await engine.sql(
        'RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits; RESET statement_timeout; RESET lock_timeout',
      );
      return (await engine.sql(text, params)) as R[];
    },
    close: () => engine.stop(),
  };
}

/** An engine a hypertable suite runs on: `describe.each(timescaleEngines)` runs the suite once per engine. */
export interface TimescaleEngine {
  /** shown in the suite's name: 'native TimescaleDB', 'embedded TimescaleDB', … */
  readonly label: string;
  readonly kind: TestDatabase['kind'];
  /** why this engine cannot run here (the suite skips), or undefined */
  readonly skip: string | undefined;
  open(): Promise<TestDatabase>;
}

/** A fresh database with TimescaleDB on the native server (PostgreSQL 15 + ../shared/timescaledb, preloaded). */
export async function nativeTimescaleDatabase(): Promise<TestDatabase> {
  if (!inject('nativeTimescale')) throw new Error(`native TimescaleDB is not running: ${nativeTimescaleSkipReason}`);
  const db = await nativeDatabase();
  await db.sql('CREATE EXTENSION timescaledb');
  return { ...db, kind: 'native-timescaledb' };
}

/** Why native TimescaleDB suites cannot run here, or undefined when the native server has TimescaleDB. */
export const nativeTimescaleSkipReason: string | undefined = inject('nativeTimescale')
  ? undefined
  : inject('nativeTimescaleSkip') || 'no native TimescaleDB';

/**
 * The server-side TimescaleDB, by the chain a real project has: TAP_TEST_DATABASE_URL when set, else the
 * native TimescaleDB the global setup started (when ../shared/timescaledb is installed), else a
 * testcontainers `timescale/timescaledb` when a Docker engine answers. Under CI=true a missing server is
 * an error, not a skip: every hypertable suite must run on a real server there.
 */
export const serverEngine: TimescaleEngine = (() => {
  const external = process.env.TAP_TEST_DATABASE_URL;
  if (external)
    return { label: 'TimescaleDB at TAP_TEST_DATABASE_URL', kind: 'external', skip: undefined, open: () => externalDatabase(external) };
  if (!nativeTimescaleSkipReason)
    return { label: 'native TimescaleDB', kind: 'native-timescaledb', skip: undefined, open: nativeTimescaleDatabase };
  if (inject('dockerAvailable'))
    return { label: 'TimescaleDB in a container', kind: 'container', skip: undefined, open: containerDatabase };
  return {
    label: 'native TimescaleDB',
    kind: 'native-timescaledb',
    skip: process.env.CI ? undefined : nativeTimescaleSkipReason,
    open: nativeTimescaleDatabase, // under CI this throws with the reason
  };
})();

/** The embedded engine as a TimescaleEngine: always here (it is an npm package). */
export const embeddedEngine: TimescaleEngine = {
  label: 'embedded TimescaleDB',
  kind: 'embedded',
  skip: undefined,
  open: () => embeddedDatabase(),
};

/** Every hypertable suite runs on both: the server (native 2.28 on these machines) and the embedded 2.23. */
export const timescaleEngines: readonly TimescaleEngine[] = [serverEngine, embeddedEngine];

async function externalDatabase(url: string): Promise<TestDatabase> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { url, kind: 'external', sql: async (t, p) => (await client.query(t, p)).rows, close: () => client.end() };
}

async function containerDatabase(): Promise<TestDatabase> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('timescale/timescaledb:latest-pg16').start();
  const url = container.getConnectionUri();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  return {
    url,
    kind: 'container',
    sql: async (t, p) => (await client.query(t, p)).rows,
    async close() {
      await client.end();
      await container.stop();
    },
  };
}

/**
 * Declares a hypertable suite once per engine in timescaleEngines: `describeOnEngines('chunks', (engine) =>
 * { beforeAll(async () => { db = await engine.open(); … }) … })`. An engine that cannot run here is skipped
 * with its reason on stderr (never under CI, where serverEngine fails instead).
 */
export function describeOnEngines(title: string, body: (engine: TimescaleEngine) => void): void {
  for (const engine of timescaleEngines) {
    if (engine.skip) console.warn(`skipping "${title}" on ${engine.label}: ${engine.skip}`);
    describe.skipIf(engine.skip !== undefined)(`${title} (${engine.label})`, () => body(engine));
  }
}
