import type { JsonSchema } from '../../core/config/config-schema.js';
import { codecFor, type PgTypeInfo } from '../../core/postgres/type-mapping.js';
import type { PlannedColumn, StreamPlan } from '../../core/readers/stream-plan.js';

/** The columns every LOG_BASED record carries, as singer-sdk's taps name them. */
export const SDC_LSN = '_sdc_lsn';
export const SDC_DELETED_AT = '_sdc_deleted_at';

const INT8: PgTypeInfo = { sqlType: 'bigint', typname: 'int8', typtype: 'b', typcategory: 'N', ndims: 0 };
const TIMESTAMPTZ: PgTypeInfo = { sqlType: 'timestamp with time zone', typname: 'timestamptz', typtype: 'b', typcategory: 'D', ndims: 0 };

/**
 * The plan a LOG_BASED stream is described and read with: `_sdc_lsn` (the change's WAL position) and
 * `_sdc_deleted_at` (the deleting transaction's commit time) added, so SCHEMA declares them; every
 * column but the key nullable, because a delete carries only the key.
 */
export function withChangeColumns(plan: StreamPlan): StreamPlan {
  const keys = new Set(plan.keyProperties);
  const properties = Object.fromEntries(
    Object.entries(plan.entry.schema.properties).map(([name, schema]) => [name, keys.has(name) ? schema : nullable(schema)]),
  );
  const own = plan.columns.filter((c) => c.name !== SDC_LSN && c.name !== SDC_DELETED_AT);
  return {
    ...plan,
    entry: { ...plan.entry, schema: { ...plan.entry.schema, properties } },
    columns: [...own, planned(SDC_LSN, INT8), planned(SDC_DELETED_AT, TIMESTAMPTZ)],
  };
}

/** The same plan with `_sdc_lsn` read as a constant (the initial copy's consistent point) and no deletion time. */
export function withCopyLsn(plan: StreamPlan, lsn: bigint): StreamPlan {
  return {
    ...plan,
    columns: plan.columns.map((c) => {
      if (c.name === SDC_LSN) return { ...c, codec: { ...c.codec, selectExpr: () => `${lsn.toString()}::int8` } };
      if (c.name === SDC_DELETED_AT) return { ...c, codec: { ...c.codec, selectExpr: () => 'NULL::timestamptz' } };
      return c;
    }),
  };
}

function planned(name: string, type: PgTypeInfo): PlannedColumn {
  return { name, type, codec: codecFor(type, true) };
}

function nullable(schema: JsonSchema): JsonSchema {
  const type = schema.type;
  if (type === undefined) return schema;
  const out: JsonSchema = { ...schema, type: [...new Set([...(Array.isArray(type) ? type : [type]), 'null'])] };
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) out.enum = [...(schema.enum as unknown[]), null];
  return out;
}
