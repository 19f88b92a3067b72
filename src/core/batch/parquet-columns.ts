import type { PlannedColumn } from '../readers/stream-plan.js';

/** How one stream's records become typed Parquet columns through DuckDB's JSON reader. */
export interface ParquetColumns {
  /** read_json's `columns` struct, e.g. {'ts': 'TIMESTAMPTZ', 'amount': 'VARCHAR'} */
  readonly struct: string;
  /** the SELECT list over read_json that casts staged columns to their Parquet type */
  readonly select: string;
  /** per column, in the records' key order: its value is staged as a JSON string (see ExactValueStager) */
  readonly staged: readonly { readonly name: string; readonly staged: boolean }[];
  /** numbers without a declared precision of at most 38 digits: written as exact decimal strings */
  readonly asText: readonly string[];
}

// DuckDB's DECIMAL holds up to 38 digits
const MAX_DECIMAL_DIGITS = 38;

/**
 * The Parquet type of each column, from the value kind the SCHEMA was built from (and, for numbers, the
 * declared type): integers as INT64, numeric(p,s) with p ≤ 38 as DECIMAL(p,s), money as DECIMAL(19,2),
 * float4/float8 as DOUBLE, other numbers (numeric without precision, or wider) as their exact decimal text,
 * timestamps (with or without time zone: the tap writes both in UTC) as TIMESTAMP with UTC, dates as DATE,
 * JSON and arrays as JSON text, everything else (text, uuid, bytea hex, intervals…) as strings, all nullable.
 *
 * DuckDB's JSON reader parses every JSON number with a fraction as a double, even into a VARCHAR or JSON
 * column, and so rounds past 15 digits: the exact columns (numbers other than floats, JSON) are staged as
 * JSON strings of their text, read as VARCHAR, and cast here, which keeps every digit.
 */
export function parquetColumns(columns: readonly PlannedColumn[]): ParquetColumns {
  const asText: string[] = [];
  const staged: { name: string; staged: boolean }[] = [];
  const read: string[] = [];
  const select: string[] = [];
  for (const c of columns) {
    const id = sqlIdent(c.name);
    let type = 'VARCHAR';
    let expr = id;
    switch (c.codec.kind) {
      case 'integer':
        type = 'BIGINT';
        break;
      case 'number': {
        if (c.type.typname === 'float4' || c.type.typname === 'float8') {
          type = 'DOUBLE';
          break;
        }
        const m = /^numeric\((\d+)(?:,(\d+))?\)$/.exec(c.type.sqlType);
        if (m && Number(m[1]) <= MAX_DECIMAL_DIGITS) expr = `CAST(${id} AS DECIMAL(${m[1]},${m[2] ?? 0}))`;
        else if (c.type.typname === 'money') expr = moneyDecimal(id, c.name);
        else asText.push(c.name);
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
        expr = `CAST(${id} AS JSON)`;
        break;
      default: // text, uuid, bytea hex, intervals…: strings
        break;
    }
    const isStaged = c.codec.kind === 'json' || (c.codec.kind === 'number' && type === 'VARCHAR');
    staged.push({ name: c.name, staged: isStaged });
    read.push(`${sqlString(c.name)}: '${type}'`);
    select.push(expr === id ? id : `${expr} AS ${id}`);
  }
  return { struct: `{${read.join(', ')}}`, select: select.join(', '), staged, asText };
}

/** money's scale is the server's lc_monetary's: two digits almost everywhere, and a third fails the file rather than round */
function moneyDecimal(id: string, name: string): string {
  const more = sqlString(`money column ${name} has more than 2 decimal digits (lc_monetary): use format jsonl for it`);
  return `CASE WHEN regexp_matches(${id}, '\\.[0-9]{3,}$') THEN error(${more}) ELSE CAST(${id} AS DECIMAL(19,2)) END`;
}

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
