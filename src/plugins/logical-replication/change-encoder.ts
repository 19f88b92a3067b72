import type pg from 'pg';
import type { RecordBatch } from '../../core/postgres/record-encoder.js';
import { quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { CopyRunner } from '../../core/readers/copy-runner.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { copyTextValues } from './row-text.js';
import type { RecordMeta } from '../../core/records/record-transform.js';

/**
 * Turns decoded changes into RECORD lines with the same codecs and encoder as a COPY of the table.
 * pgoutput's values are the text output of the tap's own session (UTC, ISO dates, hex bytea), which is
 * what COPY's text format holds: where every column is read as it is (no SELECT expression), the rows
 * are COPY text (see row-text.ts) and go straight to the COPY-text transcoder. Columns that COPY reads through
 * an expression (arrays by to_json, money as numeric, timetz offsets) go back to the server as typed
 * literals in one `COPY (SELECT <the stream's expressions> FROM (VALUES …)) TO STDOUT` per batch, so a
 * change and a copied row of the same value are the same JSON, without a second implementation of them.
 * With `meta` (one per line), each batch carries its lines' part of it as `changes`.
 */
export async function* encodeChanges(
  copy: CopyRunner,
  client: pg.PoolClient,
  plan: StreamPlan,
  text: Buffer,
  rows: number,
  meta?: readonly RecordMeta[],
): AsyncGenerator<RecordBatch & { readonly changes?: readonly RecordMeta[] }> {
  if (rows === 0) return;
  if (!meta) {
    yield* encodeLines(copy, client, plan, text, rows);
    return;
  }
  let at = 0;
  for await (const batch of encodeLines(copy, client, plan, text, rows, true)) {
    yield { ...batch, changes: meta.slice(at, at + batch.rows) };
    at += batch.rows;
  }
}

/** `unfiltered`: the lines were filtered already (an update's old row kept as its image must not be dropped by the WHERE). */
async function* encodeLines(
  copy: CopyRunner,
  client: pg.PoolClient,
  plan: StreamPlan,
  text: Buffer,
  rows: number,
  unfiltered = false,
): AsyncGenerator<RecordBatch> {
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
  const select = copy.selectSql(plan, { from, shaped: unfiltered ? false : undefined });
  yield* copy.run(client, plan, select, { label: `changes of ${plan.tapStreamId}` });
}

async function* once(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
