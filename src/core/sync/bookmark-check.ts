import type { ConnectionPool } from '../postgres/connection-pool.js';
import { typedLiteral } from '../postgres/sql.js';
import { StateError } from '../errors.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { StreamBookmark } from '../singer/messages.js';

/**
 * Checks, before anything of the stream is read, that the bookmark's values fit the columns they
 * resume on. A state written by another tap or by hand may hold `"yesterday"` for a timestamp: without
 * this the first COPY fails with a bare SQL error (exit 1) and the message does not say the state is wrong.
 */
export async function checkBookmarkValues(pool: ConnectionPool, plan: StreamPlan, bookmark: StreamBookmark): Promise<void> {
  const values: { what: string; column: string; value: unknown }[] = [];
  const key = plan.replicationKey;
  if (key && bookmark.replication_key === key && bookmark.replication_key_value !== undefined && bookmark.replication_key_value !== null) {
    values.push({ what: 'replication_key_value', column: key, value: bookmark.replication_key_value });
  }
  for (const [column, value] of Object.entries(bookmark.last_pk_fetched ?? {})) {
    if (value !== null && value !== undefined) values.push({ what: `last_pk_fetched.${column}`, column, value });
  }
  for (const v of values) {
    const col = plan.columns.find((c) => c.name === v.column);
    if (!col) continue;
    try {
      await pool.use((client) => client.query(`SELECT ${typedLiteral(v.value, col.type.sqlType)}`));
    } catch (err) {
      if (!/^22/.test((err as { code?: string }).code ?? '')) throw err; // only a value the type rejects (SQLSTATE class 22)
      throw new StateError(
        `the state's bookmark for ${plan.tapStreamId} has ${v.what} ${JSON.stringify(v.value)}, which is not a valid ${col.type.sqlType} (${(err as Error).message}): remove the bookmark for ${plan.tapStreamId} from the state to read the stream from the beginning`,
      );
    }
  }
}
