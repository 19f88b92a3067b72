import { ColumnBuffer, type ColumnStats } from './parquet-column-buffer.js';
import type { ParquetColumn } from './parquet-columns.js';
import { unscaledOf, ValueTextError } from './json-value-text.js';
import { copyNumber, POSTGRES_EPOCH_HI, POSTGRES_EPOCH_LO, readSent, SENT, sentTimestampMicros } from './copy-value-text.js';

const TWO_32 = 4294967296;
const INT64_MIN = -(1n << 63n),
  INT64_MAX = (1n << 63n) - 1n;

/** A value read from text: NaN where the record has null (copy-value-text.ts) */
type Parse<T> = (src: Buffer, a: number, b: number) => T;

/** INT64: integers, timestamps (µs since the epoch), DECIMAL(p ≤ 18) */
export class Int64Buffer extends ColumnBuffer {
  private readonly data: Buffer;
  private readonly view: DataView;
  private n = 0;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly parse: Parse<number | bigint>,
    private readonly parseCopy: Parse<number | bigint>,
    /** a timestamp column: its values may come as timestamptz_send's 8 bytes (µs since 2000) */
    private readonly timestamps = false,
  ) {
    super(column, capacity);
    this.data = Buffer.allocUnsafe(capacity * 8);
    this.view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  protected value(src: Buffer, a: number, b: number): void {
    this.store(this.parse(src, a, b));
  }

  protected copyValue(src: Buffer, f: number, fe: number): boolean {
    // a sent timestamp within 2^52 µs of 2000 (1857 to 2142) plus 1970's offset, in 32-bit words; any other
    // through sentTimestampMicros (infinity, BC, past 9999 are null)
    const sent = this.timestamps && readSent(src, f, fe);
    if (sent && SENT[0]! < 1 << 20 && SENT[0]! >= -(1 << 20)) {
      const lo = (SENT[1]! >>> 0) + POSTGRES_EPOCH_LO;
      const o = this.n++ * 8;
      this.view.setUint32(o, lo >>> 0, true);
      this.view.setInt32(o + 4, SENT[0]! + POSTGRES_EPOCH_HI + (lo >= TWO_32 ? 1 : 0), true);
      return true;
    }
    const v = sent ? sentTimestampMicros() : this.parseCopy(src, f, fe);
    if (v !== v) return false;
    this.store(v);
    return true;
  }

  private store(v: number | bigint): void {
    const o = this.n * 8;
    if (typeof v === 'number') {
      const hi = Math.floor(v / TWO_32);
      this.view.setUint32(o, v - hi * TWO_32, true);
      this.view.setInt32(o + 4, hi, true);
    } else {
      if (v < INT64_MIN || v > INT64_MAX) throw new ValueTextError(`${v} does not fit in 64 bits`);
      this.view.setBigInt64(o, v, true);
    }
    this.n++;
  }

  protected dropLast(): void {
    this.n--;
  }

  plain(): Buffer {
    return this.data.subarray(0, this.n * 8);
  }

  get bytes(): number {
    return this.n * 8;
  }

  /** the smallest and largest values, compared as (signed high word, unsigned low word) */
  override stats(): ColumnStats | undefined {
    if (this.n === 0) return undefined;
    const v = this.view;
    let min = 0,
      max = 0;
    let minHi = v.getInt32(4, true),
      minLo = v.getUint32(0, true),
      maxHi = minHi,
      maxLo = minLo;
    for (let i = 1; i < this.n; i++) {
      const hi = v.getInt32(i * 8 + 4, true),
        lo = v.getUint32(i * 8, true);
      if (hi < minHi || (hi === minHi && lo < minLo)) [min, minHi, minLo] = [i, hi, lo];
      if (hi > maxHi || (hi === maxHi && lo > maxLo)) [max, maxHi, maxLo] = [i, hi, lo];
    }
    return { min: Buffer.from(this.data.subarray(min * 8, min * 8 + 8)), max: Buffer.from(this.data.subarray(max * 8, max * 8 + 8)) };
  }

  protected clear(): void {
    this.n = 0;
  }
}

/** INT32 (dates as days since the epoch, DECIMAL(p ≤ 9)) or DOUBLE: a typed array */
export class NumberBuffer extends ColumnBuffer {
  private readonly data: Int32Array | Float64Array;
  /** the doubles' 32-bit words (little-endian, as PLAIN is) */
  private readonly words: Int32Array;
  private n = 0;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly parse: Parse<number>,
    private readonly parseCopy: Parse<number>,
    private readonly double: boolean,
  ) {
    super(column, capacity);
    this.data = double ? new Float64Array(capacity) : new Int32Array(capacity);
    this.words = new Int32Array(this.data.buffer);
  }

  protected value(src: Buffer, a: number, b: number): void {
    this.data[this.n++] = this.parse(src, a, b);
  }

  protected copyValue(src: Buffer, f: number, fe: number): boolean {
    // float8send's 8 bytes as they are (NaN and the infinities are null)
    if (this.double && readSent(src, f, fe)) {
      if ((SENT[0]! & 0x7ff00000) === 0x7ff00000) return false;
      const k = this.n++ * 2;
      this.words[k] = SENT[1]!;
      this.words[k + 1] = SENT[0]!;
      return true;
    }
    const v = this.parseCopy(src, f, fe);
    if (v !== v) return false;
    this.data[this.n++] = v;
    return true;
  }

  protected dropLast(): void {
    this.n--;
  }

  plain(): Buffer {
    return Buffer.from(this.data.buffer, 0, this.n * this.data.BYTES_PER_ELEMENT);
  }

  get bytes(): number {
    return this.n * this.data.BYTES_PER_ELEMENT;
  }

  override stats(): ColumnStats | undefined {
    if (this.n === 0) return undefined;
    const data = this.data;
    let lo = data[0]!,
      hi = lo;
    for (let i = 1; i < this.n; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const min = Buffer.alloc(data.BYTES_PER_ELEMENT),
      max = Buffer.alloc(data.BYTES_PER_ELEMENT);
    if (this.double) {
      // the spec's rule for zeros: a min of 0 is written -0, a max of 0 is +0
      min.writeDoubleLE(lo === 0 ? -0 : lo);
      max.writeDoubleLE(hi === 0 ? 0 : hi);
    } else {
      min.writeInt32LE(lo);
      max.writeInt32LE(hi);
    }
    return { min, max };
  }

  protected clear(): void {
    this.n = 0;
  }
}

export class BooleanBuffer extends ColumnBuffer {
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

  /** the transcoder writes true for a field that starts with `t`, false for any other */
  protected copyValue(src: Buffer, f: number): boolean {
    this.data[this.n++] = src[f] === 116 ? 1 : 0;
    return true;
  }

  protected dropLast(): void {
    this.n--;
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
export class FixedDecimalBuffer extends ColumnBuffer {
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
    this.store(BigInt(unscaledOf(src, a, b, this.column.precision!, this.column.scale!)));
  }

  private store(value: bigint): void {
    let v = value;
    const o = this.n * this.width;
    for (let k = this.width - 1; k >= 0; k--) {
      this.data[o + k] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.n++;
  }

  private readonly parseCopy = copyNumber((src, a, b) => unscaledOf(src, a, b, this.column.precision!, this.column.scale!));

  protected copyValue(src: Buffer, f: number, fe: number): boolean {
    const v = this.parseCopy(src, f, fe);
    if (v !== v) return false;
    this.store(BigInt(v));
    return true;
  }

  protected dropLast(): void {
    this.n--;
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
