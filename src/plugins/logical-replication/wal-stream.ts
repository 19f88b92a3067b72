import pg from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import type { ConnectionSettings } from '../../core/config/tap-config.js';
import { replicationClientConfig, translateQueryError } from '../../core/postgres/connection-pool.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import { formatLsn, parseLsn } from './lsn.js';
import { rowMessage, type RowMessage } from './row-text.js';

/**
 * One pgoutput message and the WAL position logical decoding gave it: a row change as its bytes
 * (row-text.ts reads them), any other message decoded by pg-logical-replication's parser.
 */
export type WalMessage =
  | { readonly lsn: bigint; readonly row: RowMessage; readonly message?: undefined }
  | { readonly lsn: bigint; readonly message: Pgoutput.Message; readonly row?: undefined };

export interface WalStreamOptions {
  readonly slot: string;
  readonly publication: string;
  /** where the slot was confirmed to (the state this run was given): the only position reported as flushed */
  readonly confirmed: bigint;
  /** the run's end: transactions committing at or after it are left to the next run */
  readonly upto: bigint;
  readonly signal?: AbortSignal;
}

/**
 * Received bytes held before the socket is paused (the server then waits: memory stays flat). Each
 * message is a small copy, and the copies cost more than their bytes until collected: on 1M changes
 * 8 MB here peaked at 197 MB RSS, 1 MB at 142 MB, 256 kB at 115 MB, at the same speed (the walsender bounds it).
 */
const HIGH_WATER = 256 * 1024;
/** Without a message for this long, ask the server where it is (a keepalive answers with its position). */
const PING_MS = 200;
/** A status update at least this often, or the server ends the connection after wal_sender_timeout. */
const STATUS_MS = 10_000;

/**
 * The slot's changes from `confirmed` up to `upto`, streamed as the server decodes them: a
 * `replication=database` connection runs START_REPLICATION with pgoutput (its `messages` option passes
 * TimescaleDB's compression markers), so the first change arrives while the rest is still being decoded,
 * and no tuplestore or temp file holds the range on the server (pg_logical_slot_peek_binary_changes
 * filled one before its first row). https://www.postgresql.org/docs/15/protocol-replication.html
 *
 * The stream ends where `upto` is passed: at the first transaction committing at or after it, or when a
 * keepalive says the server has decoded past it (idle, or decoding changes nobody selected: a status
 * update asking for a reply makes it say so within PING_MS). Status updates report `confirmed` as written
 * and flushed, never what this run emits: the target may still fail after the tap (see ReplicationService.confirm).
 *
 * pg-logical-replication's LogicalReplicationService acknowledges what it receives and parses every
 * message into objects; this reads pg's copyData messages itself and uses only the library's parser for
 * the few messages that are not rows. Rows are copied out of the socket buffer (pg's parser reuses it).
 */
export async function* walStream(settings: ConnectionSettings, options: WalStreamOptions): AsyncGenerator<WalMessage> {
  const { PgoutputPlugin } = await import('pg-logical-replication');
  const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication], messages: true });
  const client = new pg.Client(replicationClientConfig(settings, 'log-based changes'));
  let failure: Error | undefined;
  client.on('error', (err: Error) => (failure ??= err));
  const queue: Buffer[] = [];
  let head = 0;
  let queued = 0;
  let paused = false;
  let wake: (() => void) | undefined;
  let ended = false;
  let lastMessage = Date.now();
  let lastStatus = 0;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const connection = (client as unknown as { connection: PgConnection }).connection;
  const status = (reply: boolean): void => {
    if (ended) return;
    lastStatus = Date.now();
    connection.sendCopyFromChunk(statusUpdate(options.confirmed, reply));
  };
  const timer = setInterval(() => {
    const now = Date.now();
    if (now - lastMessage >= PING_MS || now - lastStatus >= STATUS_MS) status(now - lastMessage >= PING_MS);
  }, PING_MS);
  const onAbort = (): void => {
    failure ??= new Error('the read of changes was stopped');
    notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      lastMessage = Date.now();
      // pg's parser reuses its buffer once more bytes arrive: what is kept for later is copied
      queue.push(Buffer.from(chunk));
      queued += chunk.length;
      if (queued > HIGH_WATER && !paused) {
        paused = true;
        connection.stream.pause();
      }
      notify();
    });
    const started = client
      .query(
        `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.confirmed)} ` +
          `(proto_version '1', publication_names ${quoteLiteral(quoteIdent(options.publication))}, messages 'true')`,
      )
      .then(
        () => {
          failure ??= new Error('the server ended the replication stream');
          notify();
        },
        (err: Error) => {
          failure ??= err;
          notify();
        },
      );
    void started;
    for (;;) {
      if (head === queue.length) {
        if (failure) throw failure;
        queue.length = 0;
        head = 0;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const chunk = queue[head]!;
      queue[head++] = EMPTY;
      queued -= chunk.length;
      if (paused && queued < HIGH_WATER / 4) {
        paused = false;
        connection.stream.resume();
      }
      if (chunk[0] === KEEPALIVE) {
        if (chunk.readBigUInt64BE(1) >= options.upto) return;
        if (chunk[17] === 1) status(false);
        continue;
      }
      if (chunk[0] !== XLOG_DATA) continue;
      const lsn = chunk.readBigUInt64BE(1);
      const data = chunk.subarray(25);
      const row = rowMessage(data);
      if (row) {
        yield { lsn, row };
        continue;
      }
      const message = parser.parse(data);
      // transactions come in commit order: the first one committing at or after the end is the next run's
      if (message.tag === 'begin' && parseLsn(message.commitLsn!) >= options.upto) return;
      yield { lsn, message };
    }
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw translateQueryError(err, `reading replication slot ${options.slot}`);
  } finally {
    ended = true;
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
    connection.removeAllListeners('copyData');
    // ends the walsender: nothing is confirmed by leaving
    await client.end().catch(() => undefined);
  }
}

interface PgConnection {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  removeAllListeners(event: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  readonly stream: { pause(): void; resume(): void };
}

const XLOG_DATA = 0x77; // 'w'
const KEEPALIVE = 0x6b; // 'k'
const EMPTY = Buffer.alloc(0);
/** PostgreSQL's epoch (2000-01-01) in ms since 1970. */
const PG_EPOCH_MS = 946_684_800_000;

/** A Standby Status Update: written, flushed and applied are all `confirmed`. */
function statusUpdate(confirmed: bigint, replyRequested: boolean): Buffer {
  const buf = Buffer.alloc(34);
  buf[0] = 0x72; // 'r'
  buf.writeBigUInt64BE(confirmed, 1);
  buf.writeBigUInt64BE(confirmed, 9);
  buf.writeBigUInt64BE(confirmed, 17);
  buf.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}
