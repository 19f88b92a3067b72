import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { ConnectionSettings } from '../config/tap-config.js';
import { ConfigurationError, RetriableSyncError, TapError } from '../errors.js';

/** Session settings every tap connection gets, so values need little reshaping (see type-mapping.ts). */
export interface SessionSettings {
  statementTimeout: string;
  lockTimeout: string;
}

/**
 * The tap's connections: a pg.Pool whose clients get the session settings on connect.
 * `max` is 1 unless a reader asks for parallel reads; the embedded engine takes one connection at a time.
 */
export class ConnectionPool {
  private pool: pg.Pool;
  private readonly settingsSql: string;
  /** prefer/allow: the other TLS choice has been taken (libpq tries it once) */
  private sslSwitched = false;
  /** clients leased now, so a stop request can cut their queries short */
  private readonly leased = new Set<pg.PoolClient>();
  /** run after the pool ended (the SSH tunnel its connections go through closes then) */
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    private readonly settings: ConnectionSettings,
    session: SessionSettings,
    max = 1,
  ) {
    this.pool = this.newPool(sslOptions(settings), max);
    // PGlite ignores startup options, so the settings are SET after connecting.
    this.settingsSql = [
      `SET TimeZone = 'UTC'`,
      `SET DateStyle = 'ISO, MDY'`,
      `SET IntervalStyle = 'iso_8601'`,
      `SET extra_float_digits = 3`,
      `SET bytea_output = 'hex'`,
      `SET statement_timeout = ${pg.escapeLiteral(session.statementTimeout)}`,
      `SET lock_timeout = ${pg.escapeLiteral(session.lockTimeout)}`,
    ].join('; ');
  }

  private newPool(ssl: false | ConnectionOptions, max: number): pg.Pool {
    const pool = new pg.Pool({ ...clientConfig(this.settings), ssl, max, idleTimeoutMillis: 0 });
    pool.on('error', () => {
      /* an idle client lost its connection; the pool drops it and the next acquire opens a new one */
    });
    return pool;
  }

  /**
   * Connects. As in libpq, `prefer` tries TLS and falls back to a plain connection when the server has
   * no TLS, and `allow` tries plain and falls back to TLS when pg_hba.conf asks for it.
   */
  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      const other = this.sslSwitched ? undefined : otherSslChoice(this.settings, err);
      if (other === undefined) throw err;
      this.sslSwitched = true;
      const old = this.pool;
      this.pool = this.newPool(other, poolOptions(old).max);
      void old.end().catch(() => undefined);
      return this.pool.connect();
    }
  }

  /** Lets up to `n` connections be open at once (parallel readers ask for this). */
  ensureCapacity(n: number): void {
    const options = poolOptions(this.pool);
    options.max = Math.max(options.max, n);
  }

  get description(): string {
    return `${endpoint(this.settings)}/${this.settings.database ?? ''}`;
  }

  /** Runs `close` once the pool has ended (an SSH tunnel outlives every connection through it). */
  closeAfter(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Leases a client; release it with `release(client, broken)` in a finally block. */
  async acquire(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.connect();
    } catch (err) {
      throw translateConnectError(err, this.settings);
    }
    if (!(client as { tapReady?: boolean }).tapReady) {
      // pg-pool listens for 'error' only on idle clients: a leased client whose connection dies (a
      // terminated backend, a server restart) would emit an unhandled 'error' and crash the process.
      // The failure also reaches the query in flight, which the retry handles; here the client is
      // only marked so the pool discards it.
      client.on('error', () => {
        (client as { tapBroken?: boolean }).tapBroken = true;
      });
      try {
        await client.query(this.settingsSql);
        (client as { tapReady?: boolean }).tapReady = true;
      } catch (err) {
        client.release(true);
        const e = err as { code?: string; message?: string };
        if (e.code === '22023' || e.code === '22007') {
          throw new ConfigurationError(
            `${e.message} (SQLSTATE ${e.code}): statement_timeout and lock_timeout take a PostgreSQL interval, like '30min', '10s' or '0'`,
          );
        }
        throw translateQueryError(err, 'setting up the session');
      }
    }
    this.leased.add(client);
    return client;
  }

  release(client: pg.PoolClient, broken = false): void {
    this.leased.delete(client);
    const unusable = broken || (client as { tapBroken?: boolean }).tapBroken === true;
    client.release(unusable ? true : undefined);
  }

  /**
   * Cuts every leased client's connection, failing its query at once (a stop request must not wait for
   * a read blocked on a lock or a long statement). The readers see a lost connection and release them.
   */
  interrupt(): void {
    for (const client of this.leased) {
      (client as { tapBroken?: boolean }).tapBroken = true;
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    }
  }

  /** Runs `fn` with a leased client; a client that threw is discarded, not reused. */
  async use<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.acquire();
    let broken = false;
    try {
      return await fn(client);
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      this.release(client, broken);
    }
  }

  async end(): Promise<void> {
    try {
      await this.pool.end();
    } finally {
      for (const close of this.closers.splice(0)) await close().catch(() => undefined);
    }
  }
}

/** pg.Pool keeps its settings in `options` (undeclared in its types); `max` can grow while it runs. */
function poolOptions(pool: pg.Pool): { max: number } {
  return (pool as unknown as { options: { max: number } }).options;
}

function clientConfig(s: ConnectionSettings): pg.PoolConfig {
  return {
    host: s.host,
    port: s.port,
    user: s.user,
    password: s.password,
    database: s.database,
    application_name: s.applicationName,
    connectionTimeoutMillis: 30_000,
    keepAlive: true,
  };
}

/**
 * A replication connection (`replication=database`: logical decoding, exported snapshots) with the
 * pool's settings. TLS as sslmode's strict choices say (certificates included); prefer and allow take
 * the plain connection.
 */
export function replicationClientConfig(s: ConnectionSettings, purpose: string): pg.ClientConfig {
  const strict = ['require', 'verify-ca', 'verify-full'].includes(s.sslmode);
  return {
    ...clientConfig(s),
    application_name: `${s.applicationName} ${purpose}`,
    ssl: strict ? sslOptions(s) : false,
    replication: 'database',
  } as pg.ClientConfig;
}

/** The database's host:port as the user gave it, and the SSH tunnel it is reached through. */
export function endpoint(s: ConnectionSettings): string {
  return s.tunnel ? `${s.tunnel.host}:${s.tunnel.port} (through ${s.tunnel.via})` : `${s.host}:${s.port}`;
}

/**
 * Through an SSH tunnel the socket goes to 127.0.0.1, but the certificate names the database's host:
 * TLS checks (and SNI names) that host, as libpq does with its host setting.
 */
export function tlsIdentity(s: ConnectionSettings): ConnectionOptions {
  if (!s.tunnel) return {};
  return { host: s.tunnel.host, ...(isIP(s.tunnel.host) === 0 ? { servername: s.tunnel.host } : {}) };
}

/** libpq's sslmode in node's TLS terms: the first choice (see `connect` for prefer's and allow's second). */
function sslOptions(s: ConnectionSettings): false | ConnectionOptions {
  const read = (path: string | undefined, what: string): string | undefined => {
    if (!path) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigurationError(`cannot read ${what} ${path}: ${(err as Error).message}`);
    }
  };
  switch (s.sslmode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false, cert: read(s.sslCert, 'ssl_cert'), key: read(s.sslKey, 'ssl_key'), ...tlsIdentity(s) };
    case 'verify-ca':
    case 'verify-full': {
      const ca = read(s.sslRootCert, 'ssl_root_cert');
      if (!ca) throw new ConfigurationError(`sslmode ${s.sslmode} needs ssl_root_cert: the path of the CA certificate`);
      return {
        rejectUnauthorized: true,
        ca,
        cert: read(s.sslCert, 'ssl_cert'),
        key: read(s.sslKey, 'ssl_key'),
        ...tlsIdentity(s),
        ...(s.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
      };
    }
  }
}

function otherSslChoice(s: ConnectionSettings, err: unknown): false | ConnectionOptions | undefined {
  const message = (err as Error).message ?? '';
  // pg's words for a server that answers the SSLRequest with 'N', or with something else (the embedded engine)
  if (s.sslmode === 'prefer' && /does not support SSL|error establishing an SSL connection/i.test(message)) return false;
  if (s.sslmode === 'allow' && /pg_hba\.conf.*no encryption/.test(message)) return { rejectUnauthorized: false, ...tlsIdentity(s) };
  return undefined;
}

const CONNECTION_LOST_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
const RETRIABLE_QUERY_CODES = new Set(['55P03', '57014', '40001', '40P01', '53300']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for failures a retry may fix: a lost connection, a lock or statement timeout, a serialization failure. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof RetriableSyncError) return true;
  if (err instanceof TapError) return false;
  const e = err as { code?: string; message?: string };
  if (e.code && (CONNECTION_LOST_CODES.has(e.code) || RETRIABLE_QUERY_CODES.has(e.code) || NETWORK_CODES.has(e.code))) return true;
  return /Connection terminated|connection.*(closed|ended|lost)|Client has encountered a connection error/i.test(e.message ?? '');
}

/** Maps a connect failure to an error that names the problem and the fix. */
export function translateConnectError(err: unknown, s: ConnectionSettings): Error {
  const e = err as { code?: string; message?: string };
  const where = endpoint(s);
  // 28000 is also pg_hba.conf saying no, which "check user and password" would misdirect
  if (e.code === '28000' && /pg_hba\.conf/.test(e.message ?? '')) {
    const fix = /no encryption/.test(e.message!)
      ? 'the server accepts only TLS connections from here: set sslmode to require, verify-ca or verify-full'
      : "the server's pg_hba.conf does not let this user connect from here to this database (or without TLS): check user, database and sslmode, or ask for an entry";
    return new ConfigurationError(`${where} refused the connection of user "${s.user}": ${fix} (${e.message})`);
  }
  switch (e.code) {
    case '28P01':
    case '28000':
      return new ConfigurationError(`authentication failed for user "${s.user}" at ${where}: check user and password (${e.message})`);
    case '3D000':
      return new ConfigurationError(`database "${s.database}" does not exist at ${where}: check the database setting`);
    case 'ECONNREFUSED':
      return new RetriableSyncError(`cannot connect to ${where}: connection refused; is the server running, and are host and port right?`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigurationError(`cannot resolve host "${s.host}": check the host setting`);
    default: // any other code: the generic message below
  }
  const msg = e.message ?? String(err);
  if (/self[- ]signed|certificate|unable to verify|Hostname\/IP does not match|ERR_TLS/i.test(msg)) {
    return new ConfigurationError(`TLS verification of ${where} failed: ${msg}; check sslmode and ssl_root_cert`);
  }
  if (/does not support SSL|server does not support SSL/i.test(msg)) {
    return new ConfigurationError(`${where} does not accept TLS: set sslmode to disable or prefer, or enable ssl on the server`);
  }
  if (isRetriable(err)) return new RetriableSyncError(`cannot connect to ${where}: ${msg}`, { cause: err });
  return new ConfigurationError(`cannot connect to ${where}: ${msg}`);
}

/** Wraps a query failure: retriable ones become RetriableSyncError, the rest keep their message with context. */
export function translateQueryError(err: unknown, doing: string): Error {
  if (err instanceof TapError) return err;
  const e = err as { code?: string; message?: string };
  // a hot standby cancels a read whose snapshot still needs rows the primary vacuumed (max_standby_streaming_delay)
  const hint = /conflict with recovery/i.test(e.message ?? '')
    ? ': the hot standby cancels reads that hold back WAL replay; set hot_standby_feedback = on or raise max_standby_streaming_delay on the standby'
    : '';
  const msg = `${doing} failed: ${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ''}${hint}`;
  return isRetriable(err) ? new RetriableSyncError(msg, { cause: err }) : new TapError(msg, { cause: err });
}
