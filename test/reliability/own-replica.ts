import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { NATIVE_SCRIPT } from '../helpers/native-cluster.js';
import { socketSql, type OwnCluster } from './own-cluster.js';

/**
 * A hot standby of a test's own cluster: `pg_basebackup -R` (a streaming replica: standby.signal and
 * primary_conninfo) into a directory of its own, started on another port. The primary's pg_hba (initdb
 * --auth=trust) lets replication connections in from 127.0.0.1, and native-postgres.sh sets max_wal_senders.
 */
export interface OwnReplica {
  readonly dir: string;
  readonly port: number;
  /** postgres://postgres@127.0.0.1:port/<db> */
  url(db?: string): string;
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[], db?: string): Promise<R[]>;
  /** waits until the replica has replayed everything the primary wrote so far */
  caughtUp(): Promise<void>;
  log(): string;
  destroy(): void;
}

export async function startOwnReplica(primary: OwnCluster): Promise<OwnReplica> {
  const bindir = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1'], { encoding: 'utf8' }).trim();
  const root = mkdtempSync(join(tmpdir(), 'tap-own-replica-'));
  chmodSync(root, 0o755); // the server runs as the postgres user when the tests run as root
  const dir = join(root, 'data');
  mkdirSync(dir, { mode: 0o700 });
  const asPostgres = (cmd: string, args: string[]): string => {
    const root = process.getuid?.() === 0;
    return execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { encoding: 'utf8', stdio: 'pipe' });
  };
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  asPostgres(join(bindir, 'pg_basebackup'), [
    '-D',
    dir,
    '-h',
    '127.0.0.1',
    '-p',
    String(primary.port),
    '-U',
    'postgres',
    '-R',
    '-X',
    'stream',
    '-c',
    'fast',
  ]);
  // the copied postgresql.conf names the primary's port and socket directory: the later lines win; a port
  // taken meanwhile is retried with another (as startNativeCluster does)
  appendFileSync(join(dir, 'postgresql.conf'), `\nunix_socket_directories = '${dir}'\nhot_standby = on\n`);
  rmSync(join(dir, 'server.log'), { force: true }); // the primary's, copied by pg_basebackup
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = 20000 + Math.floor(Math.random() * 12000);
    appendFileSync(join(dir, 'postgresql.conf'), `port = ${port}\n`);
    try {
      execFileSync('bash', [NATIVE_SCRIPT, 'start', dir, String(port)], { encoding: 'utf8', stdio: 'pipe' });
      break;
    } catch (err) {
      const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
      if (attempt < 4 && /could not bind|already in use|could not create any TCP\/IP sockets/i.test(log)) continue;
      throw new Error(`the replica did not start: ${(err as Error).message}\n${log.split('\n').slice(-12).join('\n')}`);
    }
  }
  const sql = socketSql(dir, port);
  const replica: OwnReplica = {
    dir,
    port,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    sql,
    async caughtUp() {
      const [{ lsn }] = await primary.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      for (let i = 0; i < 600; i++) {
        const [{ done }] = await sql<{ done: boolean }>('SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done', [lsn]);
        if (done) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the replica did not replay up to ${lsn} in 30 s:\n${replica.log().split('\n').slice(-12).join('\n')}`);
    },
    log: () => readFileSync(join(dir, 'server.log'), 'utf8'),
    destroy() {
      execFileSync('bash', [NATIVE_SCRIPT, 'stop', dir]);
      rmSync(root, { recursive: true, force: true });
    },
  };
  await replica.caughtUp();
  return replica;
}
