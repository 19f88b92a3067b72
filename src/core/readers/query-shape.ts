import type { JsonSchema } from '../config/config-schema.js';
import type { PgTypeInfo, ValueKind } from '../postgres/type-mapping.js';
import type { PlannedColumn, StreamPlan } from './stream-plan.js';

/**
 * A computed (or replaced) column: a server-side SQL expression, what its text is read as, and the JSON
 * Schema the SCHEMA message gives it. Build one with `computedColumn`.
 */
export interface ComputedColumn {
  readonly name: string;
  /** a SQL expression over the relation's columns (quote identifiers with quoteIdent), e.g. `current_user` */
  readonly sql: string;
  /** how the expression's COPY text becomes JSON (default `string`); the expression must yield that text */
  readonly kind?: ValueKind;
  /** the property's JSON Schema in SCHEMA (default: nullable, of the kind's JSON type) */
  readonly schema?: JsonSchema;
  /** the expression's SQL type, for literals when it is a replication key (default: from the kind) */
  readonly sqlType?: string;
}

/**
 * How a plugin changes a stream's query without replacing its reader: rows the server leaves out, and
 * columns added or changed. Every built-in reader applies it at one point (`shapedWhere` and the
 * plan's columns), so a hypertable keeps being read chunk by chunk, with its per-chunk resume.
 */
export interface QueryShape {
  /** boolean SQL expressions over the relation's columns, ANDed to every read of the stream (already quoted) */
  readonly where?: readonly string[];
  /** columns to add, or to replace when one of the stream's columns has the name */
  readonly columns?: readonly ComputedColumn[];
}

const KIND_SQL: Record<ValueKind, string> = {
  integer: 'int8',
  number: 'numeric',
  boolean: 'bool',
  string: 'text',
  json: 'jsonb',
  timestamptz: 'timestamptz',
  timestamp: 'timestamp',
  date: 'date',
  bytea: 'bytea',
};
const KIND_SCHEMA: Record<ValueKind, JsonSchema> = {
  integer: { type: ['integer', 'null'] },
  number: { type: ['number', 'null'] },
  boolean: { type: ['boolean', 'null'] },
  string: { type: ['string', 'null'] },
  json: {},
  bytea: { type: ['string', 'null'] },
  timestamptz: { type: ['string', 'null'], format: 'date-time' },
  timestamp: { type: ['string', 'null'], format: 'date-time' },
  date: { type: ['string', 'null'], format: 'date' },
};

/** A planned column computed by the server from `column.sql`: no PgTypeInfo to invent, no casts. */
export function computedColumn(column: ComputedColumn): PlannedColumn {
  const kind = column.kind ?? 'string';
  const sqlType = column.sqlType ?? KIND_SQL[kind];
  const type: PgTypeInfo = { sqlType, typname: sqlType, typtype: 'b', typcategory: kind === 'string' ? 'S' : 'X', ndims: 0 };
  const schema = column.schema ?? KIND_SCHEMA[kind];
  return { name: column.name, type, computed: true, codec: { kind, schema, selectExpr: () => `(${column.sql})` } };
}

/**
 * The plan with a shape applied: its predicates added to the plan's filters, its columns added or
 * replaced in the plan and in the SCHEMA the target sees. Shapes compose: apply several in turn.
 */
export function shapePlan(plan: StreamPlan, shape: QueryShape): StreamPlan {
  const computed = (shape.columns ?? []).map(computedColumn);
  const byName = new Map(computed.map((c) => [c.name, c]));
  const columns = plan.columns.map((c) => byName.get(c.name) ?? c);
  for (const c of computed) if (!plan.columns.some((p) => p.name === c.name)) columns.push(c);
  const properties = { ...plan.entry.schema.properties };
  for (const c of computed) properties[c.name] = c.codec.schema;
  return {
    ...plan,
    columns,
    filters: [...(plan.filters ?? []), ...(shape.where ?? [])],
    entry: { ...plan.entry, schema: { ...plan.entry.schema, properties } },
  };
}

/**
 * The one point where a reader's own condition meets the plan's filters: every built-in reader's WHERE
 * goes through here (CopyRunner.selectSql), and a reader that builds its own SQL calls it too.
 */
export function shapedWhere(plan: StreamPlan, where: string | undefined): string | undefined {
  const all = [where, ...(plan.filters ?? [])].filter((w): w is string => !!w);
  if (all.length === 0) return undefined;
  return all.length === 1 ? all[0] : all.map((w) => `(${w})`).join(' AND ');
}
