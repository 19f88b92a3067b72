import type { ValueKind } from '../postgres/type-mapping.js';
import type { PlannedColumn } from '../readers/stream-plan.js';

/** How a column's JSON values become Parquet values (parquet-values.ts). */
export type ParquetValueKind = 'int64' | 'double' | 'decimal' | 'boolean' | 'timestamp' | 'date' | 'string' | 'json';

/** One column of a stream's Parquet files: its Parquet type and how its JSON values are read. */
export interface ParquetColumn {
  readonly name: string;
  readonly kind: ParquetValueKind;
  /** the kind the transcoder writes the column's JSON as: how a COPY text value is read (copy-value-text.ts) */
  readonly source: ValueKind;
  /** DECIMAL(precision, scale) */
  readonly precision?: number;
  readonly scale?: number;
  /** money: the server's lc_monetary decides the scale, so a value with more digits fails the file rather than round */
  readonly money?: boolean;
}

export interface ParquetColumns {
  readonly columns: readonly ParquetColumn[];
  /** numbers without a declared precision of at most 38 digits: written as exact decimal text */
  readonly asText: readonly string[];
}

/** Parquet's DECIMAL in a FIXED_LEN_BYTE_ARRAY of 16 bytes holds 38 digits, as Arrow's decimal128 does */
const MAX_DECIMAL_DIGITS = 38;

/**
 * The Parquet type of each column, from the value kind the SCHEMA was built from (and, for numbers, the
 * declared type): integers as INT64, numeric(p,s) with p ≤ 38 as DECIMAL(p,s), money as DECIMAL(19,2),
 * float4/float8 as DOUBLE, other numbers (numeric without precision, or wider) as their exact decimal text,
 * timestamps (with or without time zone: the tap writes both in UTC) as TIMESTAMP(µs, UTC), dates as DATE,
 * JSON and arrays as JSON text, everything else (text, uuid, bytea hex, intervals…) as strings, all nullable.
 * Every value is taken from the record's JSON text, never through a JS number where digits could be lost.
 */
export function parquetColumns(columns: readonly PlannedColumn[]): ParquetColumns {
  const asText: string[] = [];
  const out = columns.map((c): ParquetColumn => {
    const name = c.name;
    const source = c.codec.kind;
    switch (c.codec.kind) {
      case 'integer':
        return { name, source, kind: 'int64' };
      case 'number': {
        if (c.type.typname === 'float4' || c.type.typname === 'float8') return { name, source, kind: 'double' };
        const m = /^numeric\((\d+)(?:,(\d+))?\)$/.exec(c.type.sqlType);
        if (m && Number(m[1]) <= MAX_DECIMAL_DIGITS)
          return { name, source, kind: 'decimal', precision: Number(m[1]), scale: Number(m[2] ?? 0) };
        if (c.type.typname === 'money') return { name, source, kind: 'decimal', precision: 19, scale: 2, money: true };
        asText.push(name);
        return { name, source, kind: 'string' };
      }
      case 'boolean':
        return { name, source, kind: 'boolean' };
      case 'timestamptz':
      case 'timestamp':
        return { name, source, kind: 'timestamp' };
      case 'date':
        return { name, source, kind: 'date' };
      case 'json':
        return { name, source, kind: 'json' };
      default: // text, uuid, bytea hex, intervals…: strings
        return { name, source, kind: 'string' };
    }
  });
  return { columns: out, asText };
}
