import type pg from 'pg';
import { ConfigurationError, StateError } from '../../core/errors.js';
import { qualifiedName } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { TapState } from '../../core/singer/messages.js';
import { SDC_DELETED_AT, SDC_LSN } from './change-columns.js';
import { bookmarkLsn, formatLsn, parseLsn } from './lsn.js';

/**
 * LOG_BASED creates a publication and a replication slot, and a hot standby takes no writes; logical
 * decoding on a standby is PostgreSQL 16+ (and its publication is still written on the primary):
 * https://www.postgresql.org/docs/16/logicaldecoding-explanation.html#LOGICALDECODING-REPLICATION-SLOTS
 * Refused before any output, naming the primary where the role may see it (pg_stat_wal_receiver).
 */
export async function checkNotStandby(c: pg.ClientBase): Promise<void> {
  const { rows } = await c.query<{ standby: boolean; primary: string | null }>(
    `SELECT pg_is_in_recovery() AS standby,
            (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver WHERE sender_host IS NOT NULL LIMIT 1) AS primary`,
  );
  if (!rows[0]?.standby) return;
  const primary = rows[0].primary ? `the primary (${rows[0].primary}, as this standby streams from it)` : 'the primary';
  throw new ConfigurationError(
    `LOG_BASED needs the primary: this server is a hot standby (pg_is_in_recovery()), which cannot hold the publication and the replication slot LOG_BASED reads. Point host and port at ${primary} for LOG_BASED streams, or read them FULL_TABLE or INCREMENTAL from the standby`,
  );
}

/**
 * The WAL holds every row and every column: a change record must hold nothing a SELECT by the tap's role
 * could not return. Row-level security that applies to the role would be bypassed: refused.
 */
export function checkRowSecurity(plan: StreamPlan): void {
  if (!plan.relation.rowSecurity) return;
  const table = qualifiedName(plan.relation.schema, plan.relation.name);
  throw new ConfigurationError(
    `${plan.tapStreamId}: row-level security applies to the tap's role on ${table}, and the WAL holds every row, so change records would bypass its policies: read the stream FULL_TABLE or INCREMENTAL (the policies apply), or, if every row may leave, use a role that bypasses them (BYPASSRLS, or the table's owner without FORCE ROW LEVEL SECURITY)`,
  );
}

/** Columns (or the whole table) the role may not SELECT: refused, as a copy of them would be. */
export async function checkColumnPrivileges(c: pg.ClientBase, plan: StreamPlan): Promise<void> {
  const own = plan.columns.filter((col) => !col.computed && col.name !== SDC_LSN && col.name !== SDC_DELETED_AT).map((col) => col.name);
  const { rows } = await c.query<{ name: string }>(
    `SELECT n AS name FROM unnest($2::text[]) n WHERE NOT has_column_privilege($1::oid, n, 'SELECT')`,
    [plan.relation.oid, own],
  );
  if (rows.length === 0) return;
  throw new ConfigurationError(
    `${plan.tapStreamId}: the tap's role may not SELECT ${rows.map((r) => r.name).join(', ')} of ${qualifiedName(plan.relation.schema, plan.relation.name)}, and change records would carry them from the WAL: GRANT SELECT on them, or deselect them in the catalog`,
  );
}

/**
 * Every `lsn` (and `tx`) in the state the run was given must be a WAL position this server has written:
 * the smallest is confirmed to the shared slot, so one forged past the end would discard every stream's
 * changes. Checked before any output and before anything is confirmed.
 */
export async function checkStateLsns(c: pg.ClientBase, state: TapState | undefined): Promise<void> {
  const bookmarks = Object.entries(state?.bookmarks ?? {}).filter(([, b]) => b && (b.lsn !== undefined || b.tx !== undefined));
  if (bookmarks.length === 0) return;
  const end = parseLsn((await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l);
  for (const [id, b] of bookmarks) {
    for (const field of ['lsn', 'tx'] as const) {
      if (b[field] === undefined) continue;
      let value: bigint | undefined;
      try {
        value = bookmarkLsn(b[field]);
      } catch (err) {
        throw new StateError(
          `the state's bookmark for ${id} has ${(err as Error).message}: remove the bookmark to make a new initial copy`,
        );
      }
      if (value !== undefined && value > end) {
        throw new StateError(
          `the state's ${field} for ${id} (${formatLsn(value)}) is past the end of this server's WAL (${formatLsn(end)}): it was not written by a run against this server. Run with the state the target last confirmed, or remove the stream's bookmark to make a new initial copy`,
        );
      }
    }
    const n = b.tx_changes;
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0)) {
      throw new StateError(
        `the state's tx_changes for ${id} is ${JSON.stringify(n)}, not a count of changes: remove the bookmark to make a new initial copy`,
      );
    }
  }
}

/** A run creates up to `need` replication slots (its own, the watching one, a temporary one per copy): refused before any output when the server has fewer free. */
export async function checkFreeSlots(c: pg.ClientBase, need: number, names: readonly string[]): Promise<void> {
  if (need === 0) return;
  const { rows } = await c.query<{ free: number }>(
    `SELECT current_setting('max_replication_slots')::int - (SELECT count(*)::int FROM pg_replication_slots) AS free`,
  );
  const free = rows[0]!.free;
  if (free >= need) return;
  throw new ConfigurationError(
    `this run needs ${need} free replication slot(s) (${names.join(', ')}), and the server has ${free} of max_replication_slots free: drop unused slots (SELECT slot_name, active FROM pg_replication_slots) or raise max_replication_slots (a restart)`,
  );
}

/**
 * A plugin's `where` shape decides which changes are emitted from both rows of a change (change-filter.ts):
 * an update that moves a row out of it becomes a delete, a delete is kept when the old row matched. That
 * needs the whole old row in the WAL: REPLICA IDENTITY FULL, or the stream is refused, naming the chain.
 */
export async function checkFilteredIdentity(c: pg.ClientBase, plan: StreamPlan, chain: string): Promise<void> {
  if ((plan.filters?.length ?? 0) === 0) return;
  const { rows } = await c.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_class c
      WHERE c.relkind <> 'p' AND c.relreplident <> 'f' AND (c.oid = $1 OR c.oid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass)))`,
    [plan.relation.oid],
  );
  if (rows.length === 0) return;
  const table = qualifiedName(plan.relation.schema, plan.relation.name);
  throw new ConfigurationError(
    `${plan.tapStreamId}: ${chain} filters the stream with a where shape (${plan.filters!.join(' AND ')}), and for change records that needs each change's old row (an update that moves a row out of the shape must reach the target as a delete): run ALTER TABLE ${table} REPLICA IDENTITY FULL, or read the stream FULL_TABLE or INCREMENTAL`,
  );
}
