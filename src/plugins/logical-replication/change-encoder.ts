import type pg from 'pg';
import type { RecordBatch } from '../../core/postgres/record-encoder.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { CopyRunner } from '../../core/readers/copy-runner.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { copyTextValues } from './row-text.js';

/**
 * Turns decoded changes into RECORD lines with the same codecs and encoder as a COPY of the table.
 * pgoutput's values are the text output of the tap's own session (UTC, ISO dates, hex bytea), which is
 * what COPY's text format holds: where every column is read as it is (no SELECT expression), the rows
 * are COPY text (see row-text.ts) and go straight to the COPY-text transcoder. Columns that COPY reads through
 * an expression (arrays by to_json, money as numeric, timetz offsets) go back to the server as typed
 * literals in one `COPY (SELECT <the stream's expressions> FROM (VALUES …)) TO STDOUT` per batch, so a
 * change and a copied row of the same value are the same JSON, without a second implementation of them.
 */
export async function* encodeChanges(
  copy: CopyRunner,
  client: pg.PoolClient,
  plan: StreamPlan,
  text: Buffer,
  rows: number,
): AsyncGenerator<RecordBatch> {
  if (rows === 0) return;
  const encoder = copy.encoderFor(plan);
  const asIs = plan.columns.every((c) => c.codec.selectExpr(c.name) === quoteIdent(c.name));
  if (asIs && encoder.copyOptions === '') {
    yield* encoder.encode(once(text), {
      stream: plan.stream,
      columns: plan.columns.map((c) => ({ name: c.name, kind: c.codec.kind })),
      version: plan.version,
      timeExtracted: new Date().toISOString(),
      track: [],
      maxRows: rows,
    });
    return;
  }
  const types = plan.columns.map((c) => c.type.sqlType);
  const values = copyTextValues(text)
    .map((row) => `(${row.map((v, i) => (v === null ? `NULL::${types[i]}` : `${quoteLiteral(v)}::${types[i]}`)).join(', ')})`)
    .join(',\n');
  const from = `(VALUES ${values}) AS v(${plan.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  yield* copy.run(client, plan, copy.selectSql(plan, { from }), { label: `changes of ${plan.tapStreamId}` });
}

async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
