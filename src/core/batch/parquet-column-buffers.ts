import { type ColumnBuffer } from './parquet-column-buffer.js';
import type { ParquetColumn } from './parquet-columns.js';
import { ByteArrayBuffer } from './parquet-byte-array-buffer.js';
import { BooleanBuffer, FixedDecimalBuffer, Int64Buffer, NumberBuffer } from './parquet-number-buffers.js';
import { dateOf, doubleOf, integerOf, timestampMicrosOf, unscaledOf } from './json-value-text.js';
import { copyDate, copyDouble, copyInteger, copyNumber, copyTimestampMicros } from './copy-value-text.js';

export { ColumnBuffer, type ColumnStats } from './parquet-column-buffer.js';

/** FIXED_LEN_BYTE_ARRAY's width for DECIMAL(p): the fewest bytes whose two's complement holds 10^p - 1 */
export function decimalWidth(precision: number): number {
  return Math.ceil((precision * Math.log2(10) + 1) / 8);
}

/**
 * Buffers of finished files, for the next files' columns of the same type. A hypertable's BATCH run opens a
 * file per chunk: new buffers for each left their predecessors to V8's old-space collection, which let ~50 MB
 * of them pile up (measured on the bench's 50-chunk hypertable).
 */
const spare = new Map<string, ColumnBuffer[]>();
const SPARE_PER_TYPE = 8;

function typeKey(column: ParquetColumn, capacity: number): string {
  return `${column.kind}/${column.source}/${column.precision ?? ''}/${column.scale ?? ''}/${column.money ? 'money' : ''}/${capacity}`;
}

/** The buffer for one column's values: a spare one of its type when there is one. */
export function columnBuffer(column: ParquetColumn, capacity: number): ColumnBuffer {
  const reused = spare.get(typeKey(column, capacity))?.pop();
  if (reused) {
    reused.reset();
    return reused.renamed(column);
  }
  return newColumnBuffer(column, capacity);
}

/** Gives a finished file's buffers back for later files. */
export function releaseColumnBuffers(buffers: readonly ColumnBuffer[]): void {
  for (const b of buffers) {
    const key = typeKey(b.column, b.defs.length);
    const list = spare.get(key) ?? [];
    if (list.length < SPARE_PER_TYPE) list.push(b);
    spare.set(key, list);
  }
}

function newColumnBuffer(column: ParquetColumn, capacity: number): ColumnBuffer {
  switch (column.kind) {
    case 'int64':
      return new Int64Buffer(column, capacity, integerOf, copyInteger(integerOf));
    case 'timestamp':
      return new Int64Buffer(column, capacity, timestampMicrosOf, copyTimestampMicros, true);
    case 'date':
      return new NumberBuffer(column, capacity, dateOf, copyDate, false);
    case 'double':
      return new NumberBuffer(column, capacity, doubleOf, copyDouble, true);
    case 'boolean':
      return new BooleanBuffer(column, capacity);
    case 'decimal': {
      const { precision = 38, scale = 0 } = column;
      if (precision <= 9) {
        const parse = (s: Buffer, a: number, b: number) => unscaledOf(s, a, b, precision, scale) as number;
        return new NumberBuffer(column, capacity, parse, copyNumber(parse), false);
      }
      if (precision <= 18) {
        const parse = (s: Buffer, a: number, b: number) => unscaledOf(s, a, b, precision, scale);
        return new Int64Buffer(column, capacity, parse, copyNumber(parse));
      }
      return new FixedDecimalBuffer(column, capacity, decimalWidth(precision));
    }
    case 'string':
      return new ByteArrayBuffer(column, capacity, true);
    case 'json':
      return new ByteArrayBuffer(column, capacity, false);
  }
}
