import type { ParquetColumn } from './parquet-columns.js';
import { ValueTextError } from './json-value-text.js';

/** min and max of a column chunk's values, in Parquet's PLAIN encoding of its physical type */
export interface ColumnStats {
  readonly min: Buffer;
  readonly max: Buffer;
}

/**
 * One column of the row group being filled: its definition levels (1 value, 0 null) and its non-null values
 * in Parquet's PLAIN encoding, appended from the records' JSON text (`append`) or from COPY text fields
 * (`appendCopy`, copy-value-text.ts), which give the same values. The last value can be taken back
 * (`undoLast`), for a row handed to the transcoder halfway (copy-row-scanner.ts), so the statistics are
 * taken from the values when the row group is written, not kept as they come.
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
      throw this.named(err);
    }
    this.defs[this.rows++] = 1;
  }

  /**
   * The COPY text field src[f..fe) (not `\N`), read as append() reads the transcoder's JSON of it. Throws
   * COPY_FALLBACK, having appended nothing, for a field whose JSON the transcoder must write.
   */
  appendCopy(src: Buffer, f: number, fe: number): void {
    let isValue: boolean;
    try {
      isValue = this.copyValue(src, f, fe);
    } catch (err) {
      if (err instanceof Error) throw this.named(err);
      throw err;
    }
    if (isValue) this.defs[this.rows++] = 1;
    else this.appendNull();
  }

  /** Takes back the last value or null appended. */
  undoLast(): void {
    if (this.defs[--this.rows] === 0) this.nulls--;
    else this.dropLast();
  }

  private named(err: unknown): unknown {
    if (!(err instanceof ValueTextError)) return err;
    if (this.column.money && /decimal digits/.test(err.message))
      return new ValueTextError(`money column ${this.column.name} has more than 2 decimal digits (lc_monetary): use format jsonl for it`);
    return new ValueTextError(`column ${this.column.name} (Parquet ${this.column.kind}): ${err.message}`);
  }

  protected abstract value(src: Buffer, a: number, b: number, escaped: boolean): void;
  /** appends the value of a COPY text field; false: the JSON has null there, nothing appended */
  protected abstract copyValue(src: Buffer, f: number, fe: number): boolean;
  protected abstract dropLast(): void;
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
