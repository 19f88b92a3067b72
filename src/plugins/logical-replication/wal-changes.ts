import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Pgoutput } from 'pg-logical-replication';
import { markBroken } from '../../core/readers/copy-runner.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import { copyBinaryRows } from './copy-binary-rows.js';
import { formatLsn } from './lsn.js';
import { rowMessage, type RowMessage } from './row-text.js';

/**
 * One pgoutput message and the WAL position logical decoding gave it: a row change as its bytes
 * (row-text.ts reads them), any other message decoded by pg-logical-replication.
 */
export type WalMessage =
  | { readonly lsn: bigint; readonly row: RowMessage; readonly message?: undefined }
  | { readonly lsn: bigint; readonly message: Pgoutput.Message; readonly row?: undefined };

/**
 * The slot's changes up to `upto`, decoded by pgoutput on the server and parsed here, in commit order.
 *
 * Read with `pg_logical_slot_peek_binary_changes` rather than the streaming protocol: a tap run reads a
 * bounded range and stops (the function ends at `upto`, where a stream would need keepalive guessing to
 * know it is done), and peeking consumes nothing: the slot moves only when the tap confirms what the
 * target has (see ReplicationService.confirm). `messages` passes TimescaleDB's compression markers
 * (logical decoding messages, PostgreSQL 14+). The rows stream through COPY, so memory stays flat however
 * many changes there are; in COPY's binary format, so the messages arrive as their bytes (copy-binary-rows.ts).
 * Values in them are the session's text output (UTC, ISO dates, hex bytea), the same text COPY gives
 * the record encoder.
 */
export async function* walMessages(client: pg.ClientBase, slot: string, publication: string, upto: bigint): AsyncGenerator<WalMessage> {
  const sql =
    `COPY (SELECT lsn, data FROM pg_logical_slot_peek_binary_changes(${quoteLiteral(slot)}, ${quoteLiteral(formatLsn(upto))}::pg_lsn, NULL, ` +
    `'proto_version', '1', 'publication_names', ${quoteLiteral(quoteIdent(publication))}, 'messages', 'true')) TO STDOUT (FORMAT binary)`;
  // loaded here, not at start-up: it was ~30 ms of every run's start, LOG_BASED or not
  const { PgoutputPlugin } = await import('pg-logical-replication');
  const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication], messages: true });
  const source = client.query(copyTo(sql));
  let completed = false;
  try {
    for await (const { lsn, data } of copyBinaryRows(source)) {
      const row = rowMessage(data);
      if (row) {
        yield { lsn, row };
        continue;
      }
      yield { lsn, message: parser.parse(data) };
    }
    completed = true;
  } finally {
    if (!completed) {
      markBroken(client as pg.PoolClient);
      source.destroy();
    }
  }
}
