import type { PlannedColumn } from '../readers/stream-plan.js';

/** How one stream's records become typed Parquet columns: DuckDB's read_json `columns` struct. */
export interface ParquetColumns {
  /** the struct literal, e.g. {'ts': 'TIMESTAMPTZ', 'device': 'BIGINT'} */
  readonly struct: string;
  /** number columns written as DOUBLE: values past ~15 significant digits come out rounded */
  readonly rounded: readonly string[];
}

// DuckDB's JSON reader parses every JSON number with a fraction or exponent as a double (integers stay
// exact int64): a DECIMAL is exact only where a double holds every value of the column, 15 digits
const EXACT_DECIMAL_DIGITS = 15;

/**
 * The Parquet type of each column, from the value kind the SCHEMA was built from (and, for numbers, the
 * declared precision): integers as INT64, numeric(p,s) with p ≤ 15 as DECIMAL(p,s), other numbers as
 * DOUBLE, timestamps (with or without time zone: the tap writes both in UTC) as TIMESTAMP with UTC,
 * dates as DATE, JSON and arrays as JSON text, everything else (text, uuid, bytea hex, intervals…) as
 * strings, all nullable.
 */
export function parquetColumns(columns: readonly PlannedColumn[]): ParquetColumns {
  const rounded: string[] = [];
  const parts = columns.map((c) => {
    let type: string;
    switch (c.codec.kind) {
      case 'integer':
        type = 'BIGINT';
        break;
      case 'number': {
        const m = /^numeric\((\d+)(?:,(\d+))?\)$/.exec(c.type.sqlType);
        if (m && Number(m[1]) <= EXACT_DECIMAL_DIGITS) type = `DECIMAL(${m[1]},${m[2] ?? 0})`;
        else {
          type = 'DOUBLE';
          if (c.type.typname !== 'float4' && c.type.typname !== 'float8') rounded.push(c.name);
        }
        break;
      }
      case 'boolean':
        type = 'BOOLEAN';
        break;
      case 'timestamptz':
      case 'timestamp':
        type = 'TIMESTAMPTZ';
        break;
      case 'date':
        type = 'DATE';
        break;
      case 'json':
        type = 'JSON';
        break;
      default:
        type = 'VARCHAR';
    }
    return `${sqlString(c.name)}: '${type}'`;
  });
  return { struct: `{${parts.join(', ')}}`, rounded };
}

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
