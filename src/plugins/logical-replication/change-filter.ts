import type pg from 'pg';
import { shapedWhere } from '../../core/readers/query-shape.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { copyTextValues } from './row-text.js';
import type { RecordMeta } from '../../core/records/record-transform.js';

/**
 * A plugin's `where` shape decides which changes a stream emits, as it decides which rows a copy reads:
 * the server evaluates it on every row a change wrote (change-lines.ts `groups`), in one query per batch.
 * - an insert is kept when its new row matches;
 * - an update is kept when its new row matches, with a delete of the old key first when the key changed
 *   and the old row matched; when only the old row matched, the row moved out of the shape: a delete;
 * - a delete is kept when its old row matched.
 * Returns the lines to emit, and with `meta` (record transforms) theirs: an update's old row it keeps
 * as the update's image when the new row is kept and the old one is not a delete.
 */
export async function filterChanges(
  client: pg.ClientBase,
  plan: StreamPlan,
  text: Buffer,
  groups: readonly ('i' | 'u' | 'd')[],
  meta?: readonly RecordMeta[],
): Promise<{ text: Buffer; rows: number; meta?: RecordMeta[] }> {
  const lines = text.toString('utf8').split('\n');
  lines.pop();
  if (lines.length === 0) return { text, rows: 0, meta: meta && [] };
  const values = copyTextValues(text);
  const types = plan.columns.map((c) => c.type.sqlType);
  const rows = values
    .map((row, n) => `(${n}, ${row.map((v, i) => (v === null ? `NULL::${types[i]}` : `${quoteLiteral(v)}::${types[i]}`)).join(', ')})`)
    .join(',\n');
  const names = plan.columns.map((c) => quoteIdent(c.name)).join(', ');
  const { rows: matched } = await client.query<{ m: boolean }>(
    `SELECT coalesce((${shapedWhere(plan, undefined)}), false) AS m FROM (VALUES ${rows}) AS v(_n, ${names}) ORDER BY _n`,
  );
  const m = matched.map((r) => r.m);
  const keys = plan.keyProperties.map((k) => plan.columns.findIndex((c) => c.name === k));
  const kept: string[] = [];
  const keptMeta: RecordMeta[] | undefined = meta && [];
  const keep = (i: number, image = false): void => {
    kept.push(lines[i]!);
    const mi = meta?.[i];
    if (keptMeta && mi) keptMeta.push(image ? { ...mi, image } : mi);
  };
  let at = 0;
  for (const g of groups) {
    if (g === 'i') {
      if (m[at]) keep(at);
      at += 1;
    } else if (g === 'd') {
      if (m[at]) keep(at);
      at += 1;
    } else {
      const [oldMatch, newMatch] = [m[at], m[at + 1]];
      const moved = keys.some((k) => values[at]![k] !== values[at + 1]![k]);
      if (oldMatch && (moved || !newMatch)) keep(at);
      else if (newMatch && keptMeta) keep(at, true);
      if (newMatch) keep(at + 1);
      at += 2;
    }
  }
  return { text: Buffer.from(kept.length > 0 ? `${kept.join('\n')}\n` : '', 'utf8'), rows: kept.length, meta: keptMeta };
}
