import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A source (TimescaleDB, LOG_BASED-ready) and a target database for one scenario, on one server. */
export interface ScratchDatabases {
  readonly sourceName: string;
  readonly sourceUrl: string;
  readonly targetUrl: string;
  /** admin clients, kept open for the comparisons */
  readonly source: pg.Client;
  readonly target: pg.Client;
  /** runs SQL on the source in a session of its own (a writer's SET stays in it) */
  write(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates both databases on the server at `adminUrl`. The source gets TimescaleDB and
 * `enable_compressed_direct_batch_delete = off` as its database default, which LOG_BASED on compressed
 * hypertables requires (the tap refuses otherwise); a writer may still turn it on in its own session.
 */
export async function openScratchDatabases(adminUrl: string): Promise<ScratchDatabases> {
  const id = randomBytes(4).toString('hex');
  const sourceName = `eq_${id}_src`;
  const targetName = `eq_${id}_dst`;
  const urlOf = (name: string) => adminUrl.replace(/\/[^/]*$/, `/${name}`);
  await admin(adminUrl, [`CREATE DATABASE ${sourceName}`, `CREATE DATABASE ${targetName}`]);
  const source = new pg.Client({ connectionString: urlOf(sourceName) });
  const target = new pg.Client({ connectionString: urlOf(targetName) });
  const close = async () => {
    await source.end().catch(() => undefined);
    await target.end().catch(() => undefined);
    await dropScratch(adminUrl, [sourceName, targetName]);
  };
  try {
    await source.connect();
    await target.connect();
    await source.query(`CREATE EXTENSION timescaledb`);
    await source.query(`ALTER DATABASE ${sourceName} SET timescaledb.enable_compressed_direct_batch_delete = off`);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    sourceName,
    sourceUrl: urlOf(sourceName),
    targetUrl: urlOf(targetName),
    source,
    target,
    async write(sql) {
      const writer = new pg.Client({ connectionString: urlOf(sourceName) });
      await writer.connect();
      try {
        await writer.query(sql);
      } finally {
        await writer.end();
      }
    },
    close,
  };
}

async function admin(adminUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

/**
 * Drops the databases: their sessions are ended, then their replication slots (which block DROP
 * DATABASE, and an active one cannot be dropped: a killed tap's session may take a moment to end).
 */
async function dropScratch(adminUrl: string, names: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY ($1) AND pid <> pg_backend_pid()`, [
        names,
      ]);
      try {
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ANY ($1)`, [names]);
        break;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
