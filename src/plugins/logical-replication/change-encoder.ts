import type pg from 'pg';
import type { RecordBatch } from '../../core/postgres/record-encoder.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { CopyRunner } from '../../core/readers/copy-runner.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';

/** A change as text values in the order of the plan's columns (null: SQL NULL). */
export type ChangeRow = readonly (string | null)[];

/**
 * Turns decoded changes into RECORD lines with the same codecs and encoder as a COPY of the table.
 * pgoutput's values are the text output of the tap's own session (UTC, ISO dates, hex bytea), which is
 * what COPY's text format holds: where every column is read as it is (no SELECT expression), the rows
 * are written as COPY text and go straight to the COPY-text transcoder. Columns that COPY reads through
 * an expression (arrays by to_json, money as numeric, timetz offsets) go back to the server as typed
 * literals in one `COPY (SELECT <the stream's expressions> FROM (VALUES …)) TO STDOUT` per batch, so a
 * change and a copied row of the same value are the same JSON, without a second implementation of them.
 */
export async function* encodeChanges(
  copy: CopyRunner,
  client: pg.PoolClient,
  plan: StreamPlan,
  rows: readonly ChangeRow[],
): AsyncGenerator<RecordBatch> {
  if (rows.length === 0) return;
  const encoder = copy.encoderFor(plan);
  const asIs = plan.columns.every((c) => c.codec.selectExpr(c.name) === quoteIdent(c.name));
  if (asIs && encoder.copyOptions === '') {
    yield* encoder.encode(once(Buffer.from(copyText(rows), 'utf8')), {
      stream: plan.stream,
      columns: plan.columns.map((c) => ({ name: c.name, kind: c.codec.kind })),
      version: plan.version,
      timeExtracted: new Date().toISOString(),
      track: [],
      maxRows: rows.length,
    });
    return;
  }
  const types = plan.columns.map((c) => c.type.sqlType);
  const values = rows
    .map((row) => `(${row.map((v, i) => (v === null ? `NULL::${types[i]}` : `${quoteLiteral(v)}::${types[i]}`)).join(', ')})`)
    .join(',\n');
  const from = `(VALUES ${values}) AS v(${plan.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  yield* copy.run(client, plan, copy.selectSql(plan, { from }), { label: `changes of ${plan.tapStreamId}` });
}

/** Rows in COPY's text format: tab-separated, `\N` for NULL, backslash escapes for \, tab, newline, CR. */
function copyText(rows: readonly ChangeRow[]): string {
  let out = '';
  for (const row of rows) {
    out += row.map((v) => (v === null ? '\\N' : v.replace(/[\\\t\n\r]/g, escape))).join('\t');
    out += '\n';
  }
  return out;
}

function escape(c: string): string {
  return c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r';
}

async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
