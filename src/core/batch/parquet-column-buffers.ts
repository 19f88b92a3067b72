import type { ParquetColumn } from './parquet-columns.js';
import { dateOf, doubleOf, integerOf, timestampMicrosOf, unescapeString, unscaledOf, ValueTextError } from './json-value-text.js';

const QUOTE = 34;
const TWO_32 = 4294967296;
const INT64_MIN = -(1n << 63n),
  INT64_MAX = (1n << 63n) - 1n;

/** min and max of a column chunk's values, in Parquet's PLAIN encoding of its physical type */
export interface ColumnStats {
  readonly min: Buffer;
  readonly max: Buffer;
}

/**
 * One column of the row group being filled: its definition levels (1 value, 0 null) and its non-null values
 * in Parquet's PLAIN encoding, appended from the records' JSON text.
 */
export abstract class ColumnBuffer {
  readonly defs: Uint8Array;
  rows = 0;
  nulls = 0;

  constructor(
    public column: ParquetColumn,
    capacity: number,
  ) {
    this.defs = new Uint8Array(capacity);
  }

  /** the same buffer for another column of the same type */
  renamed(column: ParquetColumn): this {
    this.column = column;
    return this;
  }

  appendNull(): void {
    this.defs[this.rows++] = 0;
    this.nulls++;
  }

  /** The JSON value src[a..b) (a string with its quotes; `escaped`: it holds a backslash). */
  append(src: Buffer, a: number, b: number, escaped: boolean): void {
    try {
      this.value(src, a, b, escaped);
    } catch (err) {
      if (!(err instanceof ValueTextError)) throw err;
      if (this.column.money && /decimal digits/.test(err.message))
        throw new ValueTextError(`money column ${this.column.name} has more than 2 decimal digits (lc_monetary): use format jsonl for it`);
      throw new ValueTextError(`column ${this.column.name} (Parquet ${this.column.kind}): ${err.message}`);
    }
    this.defs[this.rows++] = 1;
  }

  protected abstract value(src: Buffer, a: number, b: number, escaped: boolean): void;
  /** the PLAIN-encoded values: a view, valid until reset() */
  abstract plain(): Buffer;
  /** bytes held, for the row group's size limit */
  abstract get bytes(): number;
  stats(): ColumnStats | undefined {
    return undefined;
  }

  reset(): void {
    this.rows = 0;
    this.nulls = 0;
    this.clear();
  }

  protected abstract clear(): void;
}

/** INT64: integers, timestamps (µs since the epoch), DECIMAL(p ≤ 18) */
class Int64Buffer extends ColumnBuffer {
  private readonly data: Buffer;
  private readonly view: DataView;
  private n = 0;
  private min = Infinity;
  private max = -Infinity;
  private exact = true;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly parse: (src: Buffer, a: number, b: number) => number | bigint,
  ) {
    super(column, capacity);
    this.data = Buffer.allocUnsafe(capacity * 8);
    this.view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  protected value(src: Buffer, a: number, b: number): void {
    const v = this.parse(src, a, b);
    const o = this.n++ * 8;
    if (typeof v === 'number') {
      const hi = Math.floor(v / TWO_32);
      this.view.setUint32(o, v - hi * TWO_32, true);
      this.view.setInt32(o + 4, hi, true);
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    } else {
      if (v < INT64_MIN || v > INT64_MAX) throw new ValueTextError(`${v} does not fit in 64 bits`);
      this.view.setBigInt64(o, v, true);
      this.exact = false;
    }
  }

  plain(): Buffer {
    return this.data.subarray(0, this.n * 8);
  }

  get bytes(): number {
    return this.n * 8;
  }

  override stats(): ColumnStats | undefined {
    if (!this.exact || this.n === 0) return undefined;
    const min = Buffer.alloc(8),
      max = Buffer.alloc(8);
    min.writeBigInt64LE(BigInt(this.min));
    max.writeBigInt64LE(BigInt(this.max));
    return { min, max };
  }

  protected clear(): void {
    this.n = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.exact = true;
  }
}

/** INT32 (dates as days since the epoch, DECIMAL(p ≤ 9)) or DOUBLE: a typed array and its min and max */
class NumberBuffer extends ColumnBuffer {
  private readonly data: Int32Array | Float64Array;
  private n = 0;
  private min = Infinity;
  private max = -Infinity;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly parse: (src: Buffer, a: number, b: number) => number,
    private readonly double: boolean,
  ) {
    super(column, capacity);
    this.data = double ? new Float64Array(capacity) : new Int32Array(capacity);
  }

  protected value(src: Buffer, a: number, b: number): void {
    const v = this.parse(src, a, b);
    this.data[this.n++] = v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  plain(): Buffer {
    return Buffer.from(this.data.buffer, 0, this.n * this.data.BYTES_PER_ELEMENT);
  }

  get bytes(): number {
    return this.n * this.data.BYTES_PER_ELEMENT;
  }

  override stats(): ColumnStats | undefined {
    if (this.n === 0) return undefined;
    const min = Buffer.alloc(this.data.BYTES_PER_ELEMENT),
      max = Buffer.alloc(this.data.BYTES_PER_ELEMENT);
    if (this.double) {
      // the spec's rule for zeros: a min of 0 is written -0, a max of 0 is +0
      min.writeDoubleLE(this.min === 0 ? -0 : this.min);
      max.writeDoubleLE(this.max === 0 ? 0 : this.max);
    } else {
      min.writeInt32LE(this.min);
      max.writeInt32LE(this.max);
    }
    return { min, max };
  }

  protected clear(): void {
    this.n = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
}

class BooleanBuffer extends ColumnBuffer {
  private readonly data: Uint8Array;
  private n = 0;

  constructor(column: ParquetColumn, capacity: number) {
    super(column, capacity);
    this.data = new Uint8Array(capacity);
  }

  protected value(src: Buffer, a: number, b: number): void {
    if (b - a === 4 && src[a] === 116) this.data[this.n++] = 1;
    else if (b - a === 5 && src[a] === 102) this.data[this.n++] = 0;
    else throw new ValueTextError(`${src.toString('utf8', a, Math.min(b, a + 80))} is not true or false`);
  }

  /** PLAIN booleans: bit-packed, the first value in the lowest bit */
  plain(): Buffer {
    const out = Buffer.alloc(Math.ceil(this.n / 8));
    for (let i = 0; i < this.n; i++) out[i >> 3]! |= this.data[i]! << (i & 7);
    return out;
  }

  get bytes(): number {
    return this.n;
  }

  protected clear(): void {
    this.n = 0;
  }
}

/** DECIMAL(19 ≤ p ≤ 38): big-endian two's complement in FIXED_LEN_BYTE_ARRAY(width) */
class FixedDecimalBuffer extends ColumnBuffer {
  private readonly data: Buffer;
  private n = 0;

  constructor(
    column: ParquetColumn,
    capacity: number,
    readonly width: number,
  ) {
    super(column, capacity);
    this.data = Buffer.allocUnsafe(capacity * width);
  }

  protected value(src: Buffer, a: number, b: number): void {
    let v = BigInt(unscaledOf(src, a, b, this.column.precision!, this.column.scale!));
    const o = this.n++ * this.width;
    for (let k = this.width - 1; k >= 0; k--) {
      this.data[o + k] = Number(v & 0xffn);
      v >>= 8n;
    }
  }

  plain(): Buffer {
    return this.data.subarray(0, this.n * this.width);
  }

  get bytes(): number {
    return this.n * this.width;
  }

  protected clear(): void {
    this.n = 0;
  }
}

/** BYTE_ARRAY: strings as their UTF-8 bytes (a JSON value that is not a string as its text); JSON as its text */
class ByteArrayBuffer extends ColumnBuffer {
  private data = Buffer.allocUnsafe(1 << 18);
  private view = viewOf(this.data);
  private pos = 0;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly unquote: boolean,
  ) {
    super(column, capacity);
  }

  protected value(src: Buffer, a: number, b: number, escaped: boolean): void {
    // the UTF-8 of a JSON string is never longer than its JSON text
    if (this.pos + 8 + (b - a) > this.data.length) this.grow(8 + (b - a));
    const start = this.pos + 4;
    let end: number;
    if (this.unquote && src[a] === QUOTE) end = escaped ? unescapeString(src, a, b, this.data, start) : this.copy(src, a + 1, b - 1, start);
    else end = this.copy(src, a, b, start);
    this.view.setUint32(this.pos, end - start, true);
    this.pos = end;
  }

  /** src[from..to) to data[o…]: 4 bytes at a time (a native copy costs more than the short values it would move) */
  private copy(src: Buffer, from: number, to: number, o: number): number {
    if (to - from >= 256) return o + src.copy(this.data, o, from, to);
    const sv = sourceView(src);
    const view = this.view;
    let i = from;
    for (; i + 4 <= to; i += 4, o += 4) view.setInt32(o, sv.getInt32(i, true), true);
    const data = this.data;
    for (; i < to; i++) data[o++] = src[i]!;
    return o;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.pos + need));
    this.data.copy(next, 0, 0, this.pos);
    this.data = next;
    this.view = viewOf(next);
  }

  plain(): Buffer {
    return this.data.subarray(0, this.pos);
  }

  get bytes(): number {
    return this.pos;
  }

  protected clear(): void {
    this.pos = 0;
    // a row group of large values leaves a large buffer: let it go rather than keep it for the run
    if (this.data.length > 1 << 24) {
      this.data = Buffer.allocUnsafe(1 << 18);
      this.view = viewOf(this.data);
    }
  }
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** a view of the batch being read, made once per batch rather than once per value */
let lastSource: Buffer | undefined;
let lastView: DataView | undefined;

function sourceView(src: Buffer): DataView {
  if (src !== lastSource) {
    lastSource = src;
    lastView = viewOf(src);
  }
  return lastView!;
}

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
  return `${column.kind}/${column.precision ?? ''}/${column.scale ?? ''}/${column.money ? 'money' : ''}/${capacity}`;
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
      return new Int64Buffer(column, capacity, integerOf);
    case 'timestamp':
      return new Int64Buffer(column, capacity, timestampMicrosOf);
    case 'date':
      return new NumberBuffer(column, capacity, dateOf, false);
    case 'double':
      return new NumberBuffer(column, capacity, doubleOf, true);
    case 'boolean':
      return new BooleanBuffer(column, capacity);
    case 'decimal': {
      const { precision = 38, scale = 0 } = column;
      if (precision <= 9) return new NumberBuffer(column, capacity, (s, a, b) => unscaledOf(s, a, b, precision, scale) as number, false);
      if (precision <= 18) return new Int64Buffer(column, capacity, (s, a, b) => unscaledOf(s, a, b, precision, scale));
      return new FixedDecimalBuffer(column, capacity, decimalWidth(precision));
    }
    case 'string':
      return new ByteArrayBuffer(column, capacity, true);
    case 'json':
      return new ByteArrayBuffer(column, capacity, false);
  }
}
