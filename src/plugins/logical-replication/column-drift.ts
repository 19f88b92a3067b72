import type { Pgoutput } from 'pg-logical-replication';
import type pg from 'pg';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { SDC_DELETED_AT, SDC_LSN } from './change-columns.js';

/** The stream relation's columns as they are at the run's start: name -> type OID and typmod. */
export type LiveColumns = ReadonlyMap<string, { readonly type: number; readonly typmod: number }>;

export async function liveColumns(client: pg.ClientBase, oid: number): Promise<LiveColumns> {
  const { rows } = await client.query<{ name: string; type: number; typmod: number }>(
    `SELECT attname AS name, atttypid::int AS type, atttypmod AS typmod FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`,
    [oid],
  );
  return new Map(rows.map((r) => [r.name, { type: r.type, typmod: r.typmod }]));
}

/**
 * Whether a change written with these columns (pgoutput's Relation message: the columns the relation had
 * at that change) can be a record of the plan's columns. Not when a planned column is missing (added or
 * renamed after the change: rows the target already has would keep a null, or the old name, where the
 * source now holds a value) or had another type (ALTER TYPE rewrote the values): those need the stream
 * copied again, and the reason is returned. A column the relation has and the catalog does not know is
 * left out of the records, with a warning once: a rediscovered catalog holds it, and its next run copies
 * the stream again (the bookmark's `columns` say what the target has).
 */
export function columnDrift(
  plan: StreamPlan,
  message: Pgoutput.MessageRelation,
  live: LiveColumns,
  warn: (message: string) => void,
): string | undefined {
  const at = new Map(message.columns.map((c) => [c.name, c]));
  for (const column of plan.columns) {
    if (column.computed || column.name === SDC_LSN || column.name === SDC_DELETED_AT) continue;
    const then = at.get(column.name);
    if (!then) return `column "${column.name}" is not in ${message.schema}.${message.name} at that change (it was added or renamed since)`;
    const now = live.get(column.name);
    if (now && (now.type !== then.typeOid || now.typmod !== then.typeMod)) {
      return `column "${column.name}" had another type at that change (ALTER TABLE … ALTER COLUMN … TYPE since)`;
    }
  }
  const known = plan.entry.schema.properties;
  for (const c of message.columns) {
    if (!(c.name in known) && live.has(c.name)) {
      warn(
        `${plan.tapStreamId}: column "${c.name}" of ${plan.relation.schema}.${plan.relation.name} is not in the catalog, so the records leave it out: rediscover the catalog (Meltano does before each run), and the next run copies the stream again with it`,
      );
    }
  }
  return undefined;
}
