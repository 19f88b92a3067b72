import type { JsonSchema } from '../config/config-schema.js';
import { quoteIdent } from './sql.js';

/**
 * How a column's COPY text becomes JSON. Both decoders (csv-row-decoder and copy-text-transcoder)
 * implement every kind, so they produce the same JSON for the same value.
 * - integer: digits as they are (int8 stays exact: it is written, never parsed)
 * - number: numeric/float as the exact literal; NaN and ±Infinity become null
 * - boolean: t/f
 * - string: any text output, JSON-escaped
 * - json: the value is JSON text already (jsonb, and to_json(...) of arrays); json's whitespace is folded
 * - timestamptz: '2024-01-01 10:00:00.5+00' -> '2024-01-01T10:00:00.5Z' (session TimeZone is UTC)
 * - timestamp: without time zone, read as UTC: '2024-01-01 10:00:00' -> '2024-01-01T10:00:00Z'
 * - date: '2024-01-01'
 * - bytea: '\x0aff' -> '0aff' (lowercase hex, no prefix)
 * Timestamps and dates that RFC 3339 cannot hold (infinity, BC, years past 9999) become null.
 */
export type ValueKind = 'integer' | 'number' | 'boolean' | 'string' | 'json' | 'timestamptz' | 'timestamp' | 'date' | 'bytea';

/** What pg_catalog says about a column's type, domains already resolved to their base type. */
export interface PgTypeInfo {
  /** format_type() of the declared type, e.g. 'numeric(10,2)', 'my_domain', 'integer[]' */
  readonly sqlType: string;
  /** name of the (base) type in pg_type, e.g. 'int4', '_int4', 'my_enum' */
  readonly typname: string;
  /** pg_type.typtype of the base type: b base, e enum, r range, m multirange, c composite, p pseudo */
  readonly typtype: string;
  /** pg_type.typcategory of the base type ('A' for arrays) */
  readonly typcategory: string;
  /** for arrays: the element's typname */
  readonly elemTypname?: string;
  readonly elemTyptype?: string;
  /** declared dimensions of an array column (0 when not declared) */
  readonly ndims: number;
  readonly enumLabels?: readonly string[];
  readonly elemEnumLabels?: readonly string[];
}

export interface ColumnCodec {
  readonly kind: ValueKind;
  /** JSON Schema of the value, nullable unless the column is NOT NULL */
  readonly schema: JsonSchema;
  /** the SELECT expression that yields the text this kind expects */
  selectExpr(column: string): string;
  /** set when the tap cannot read the type: the reason for `inclusion: unsupported` */
  readonly unsupported?: string;
}

const JSON_TYPES = ['object', 'array', 'string', 'number', 'boolean', 'null'] as const;
const INTEGER = new Set(['int2', 'int4', 'int8', 'oid', 'xid', 'cid']);
const NUMBER = new Set(['numeric', 'float4', 'float8']);
// JSON Schema's `time` is RFC 3339 full-time, which needs an offset: timetz has one, time does not.
const STRING_FORMAT: Record<string, string> = { uuid: 'uuid' };

function plain(kind: ValueKind, schema: JsonSchema, expr?: (c: string) => string): Omit<ColumnCodec, 'schema'> & { base: JsonSchema } {
  return { kind, base: schema, selectExpr: expr ?? ((c) => quoteIdent(c)) };
}

/** Maps a column type to its value kind and JSON Schema. */
export function codecFor(type: PgTypeInfo, nullable: boolean): ColumnCodec {
  const m = baseCodec(type);
  const schema = nullable ? withNull(m.base) : m.base;
  return { kind: m.kind, selectExpr: m.selectExpr, schema, unsupported: m.unsupported };
}

function baseCodec(t: PgTypeInfo): Omit<ColumnCodec, 'schema'> & { base: JsonSchema } {
  if (t.typcategory === 'A') {
    const elem = elementSchema(t);
    return plain('json', { type: 'array', items: t.ndims > 1 ? {} : elem }, (c) => `to_json(${quoteIdent(c)})`);
  }
  if (t.typtype === 'e') return plain('string', { type: 'string', enum: [...(t.enumLabels ?? [])] });
  if (t.typtype === 'r' || t.typtype === 'm') return plain('string', { type: 'string' });
  const n = t.typname;
  if (INTEGER.has(n)) return plain('integer', { type: 'integer' });
  if (NUMBER.has(n)) return plain('number', { type: 'number' });
  if (n === 'money') return plain('number', { type: 'number' }, (c) => `${quoteIdent(c)}::numeric`);
  if (n === 'bool') return plain('boolean', { type: 'boolean' });
  // any JSON value; a type list (not {}) so that targets create a json/jsonb column rather than text
  if (n === 'jsonb' || n === 'json') return plain('json', { type: [...JSON_TYPES] });
  if (n === 'timestamptz') return plain('timestamptz', { type: 'string', format: 'date-time' });
  if (n === 'timestamp') return plain('timestamp', { type: 'string', format: 'date-time' });
  if (n === 'date') return plain('date', { type: 'string', format: 'date' });
  if (n === 'bytea') return plain('bytea', { type: 'string', contentEncoding: 'base16' });
  // no `format: duration`: RFC 3339's duration has no fractions nor signs, and PostgreSQL's ISO 8601
  // intervals have both (PT0.5S, P-1D); a target checking formats would reject those rows
  if (n === 'interval') return plain('string', { type: 'string' });
  // PostgreSQL prints a whole-hour offset as '-08'; RFC 3339 (and Python's format checkers) want '-08:00'
  if (n === 'timetz')
    return plain(
      'string',
      { type: 'string', format: 'time' },
      (c) => `regexp_replace(${quoteIdent(c)}::text, '([+-][0-9]{2})$', '\\1:00')`,
    );
  if (STRING_FORMAT[n]) return plain('string', { type: 'string', format: STRING_FORMAT[n] });
  if (t.typtype === 'p') return { ...plain('string', { type: 'string' }), unsupported: `pseudo-type ${t.sqlType} has no value to read` };
  // text, varchar, char, name, citext, inet, cidr, macaddr, bit, varbit, xml, tsvector, geometric types, composites:
  // their text output, as a string.
  return plain('string', { type: 'string' });
}

function elementSchema(t: PgTypeInfo): JsonSchema {
  const elem = baseCodec({
    sqlType: t.sqlType.replace(/\[\]$/, ''),
    typname: t.elemTypname ?? 'text',
    typtype: t.elemTyptype ?? 'b',
    typcategory: 'X',
    ndims: 0,
    enumLabels: t.elemEnumLabels,
  });
  // to_json() prints elements PostgreSQL's way, not the tap's: bytea as '\\x…', a timestamp without its
  // offset, 'infinity' as is (none of them RFC 3339), and NaN/Infinity of numeric and float as strings.
  switch (elem.kind) {
    case 'bytea':
    case 'timestamptz':
    case 'timestamp':
    case 'date':
      return { type: ['string', 'null'] };
    case 'number':
      return { type: ['number', 'string', 'null'] };
    default: // to_json() prints the other kinds as the tap does
  }
  return withNull(elem.base);
}

function withNull(schema: JsonSchema): JsonSchema {
  if (Object.keys(schema).length === 0) return {};
  const type = schema.type;
  const out: JsonSchema = { ...schema, type: Array.isArray(type) ? [...new Set([...type, 'null'])] : [type, 'null'] };
  if (Array.isArray(schema.enum)) out.enum = [...(schema.enum as unknown[]), null];
  return out;
}
