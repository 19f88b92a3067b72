import type pg from 'pg';
import type { RecordBatch } from '../../core/postgres/record-encoder.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { CopyRunner } from '../../core/readers/copy-runner.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';

/** A change as text values in the order of the plan's columns (null: SQL NULL). */
export type ChangeRow = readonly (string | null)[];

/**
 * Turns decoded changes into RECORD lines with the same codecs, encoder and SELECT expressions as a
 * COPY of the table: the values go back to the server as typed literals in one
 * `COPY (SELECT <the stream's expressions> FROM (VALUES …)) TO STDOUT` per batch. So a change and a
 * copied row of the same value are the same JSON (arrays through to_json, money as numeric, timetz
 * offsets), with one round trip per batch rather than a second implementation of every type.
 */
export async function* encodeChanges(copy: CopyRunner, client: pg.PoolClient, plan: StreamPlan, rows: readonly ChangeRow[]): AsyncGenerator<RecordBatch> {
  if (rows.length === 0) return;
  const types = plan.columns.map((c) => c.type.sqlType);
  const values = rows
    .map((row) => `(${row.map((v, i) => (v === null ? `NULL::${types[i]}` : `${quoteLiteral(v)}::${types[i]}`)).join(', ')})`)
    .join(',\n');
  const from = `(VALUES ${values}) AS v(${plan.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  yield* copy.run(client, plan, copy.selectSql(plan, { from }), { label: `changes of ${plan.tapStreamId}` });
}
