import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NATIVE_SCRIPT, startNativeCluster } from '../helpers/native-cluster.js';

/**
 * A native PostgreSQL cluster of this test file's own (scripts/native-postgres.sh), for what the shared
 * throw-away cluster must not be put through: a stop and start, password or TLS-only authentication,
 * statement logging. `sql` runs as the superuser over the Unix socket, which pg_hba keeps at trust.
 */
export interface OwnCluster {
  readonly dir: string;
  readonly port: number;
  /** postgres://…@127.0.0.1:port/postgres, as the superuser (works only while TCP stays at trust) */
  readonly adminUrl: string;
  /** a URL on 127.0.0.1 for `user`/`password` to database `db` */
  url(user: string, password: string | undefined, db?: string): string;
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[], db?: string): Promise<R[]>;
  /** replaces the host lines of pg_hba.conf (the Unix socket line stays trust) and reloads */
  setHostAuth(lines: string[]): Promise<void>;
  /** the server log so far */
  log(): string;
  stop(): void;
  start(): void;
  destroy(): void;
}

export function startOwnCluster(): OwnCluster {
  const root = mkdtempSync(join(tmpdir(), 'tap-own-pg-'));
  chmodSync(root, 0o755); // the server runs as the postgres user when the tests run as root
  const dir = join(root, 'data');
  const { url: adminUrl, port } = startNativeCluster(dir);
  const run = (cmd: 'start' | 'stop'): string => execFileSync('bash', [NATIVE_SCRIPT, cmd, dir, String(port)], { encoding: 'utf8' }).trim();
  const sql = socketSql(dir, port);
  return {
    dir,
    port,
    adminUrl,
    url: (user, password, db = 'postgres') =>
      `postgres://${encodeURIComponent(user)}${password === undefined ? '' : ':' + encodeURIComponent(password)}@127.0.0.1:${port}/${db}`,
    sql,
    async setHostAuth(lines) {
      writeFileSync(join(dir, 'pg_hba.conf'), ['local all all trust', ...lines, ''].join('\n'));
      await sql('SELECT pg_reload_conf()');
      await new Promise((r) => setTimeout(r, 300)); // the postmaster reloads asynchronously
    },
    log: () => readFileSync(join(dir, 'server.log'), 'utf8'),
    stop: () => void run('stop'),
    start: () => void run('start'),
    destroy() {
      run('stop');
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs SQL as the superuser over the Unix socket of a cluster of a test's own (pg_hba keeps it at trust). */
export function socketSql(dir: string, port: number): OwnCluster['sql'] {
  return async <R extends pg.QueryResultRow>(text: string, params?: unknown[], db = 'postgres'): Promise<R[]> => {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database: db });
    await client.connect();
    try {
      return (await client.query<R>(text, params)).rows;
    } finally {
      await client.end();
    }
  };
}
