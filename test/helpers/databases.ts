import pg from 'pg';
import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startEmbeddedTimescaleDb, type EmbeddedTimescaleDb } from '../../src/dev/embedded-timescaledb.js';

/** A database for one test file; `url` is what goes into the tap's config. */
export interface TestDatabase {
  readonly url: string;
  readonly kind: 'native' | 'embedded' | 'external' | 'container';
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
      await engine.sql('RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits; RESET statement_timeout; RESET lock_timeout');
      return (await engine.sql(text, params)) as R[];
    },
    close: () => engine.stop(),
  };
}

/**
 * The TimescaleDB the suites run against: TAP_TEST_DATABASE_URL when set, else a testcontainers
 * `timescale/timescaledb` when a Docker engine answers, else the embedded engine (the path on these machines).
 */
export async function timescaleDatabase(): Promise<TestDatabase> {
  const external = process.env.TAP_TEST_DATABASE_URL;
  if (external) {
    const client = new pg.Client({ connectionString: external });
    await client.connect();
    return { url: external, kind: 'external', sql: async (t, p) => (await client.query(t, p)).rows, close: () => client.end() };
  }
  if (await dockerAvailable()) {
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
  return embeddedDatabase();
}

/** True when a Docker engine answers (testcontainers' own check). */
export async function dockerAvailable(): Promise<boolean> {
  if (process.env.TAP_TEST_NO_DOCKER) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000))]);
    return true;
  } catch {
    return false;
  }
}
