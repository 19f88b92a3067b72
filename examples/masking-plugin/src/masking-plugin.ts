// An example reader plugin for tap-timescaledb: it replaces the listed columns with a SHA-256 digest
// computed by the server, so the clear values never leave the database. It wraps whichever reader the
// tap chose for the stream (the default COPY reader on a table, the TimescaleDB chunk reader on a
// hypertable, which keeps reading chunk by chunk) instead of replacing it. It uses only the public API.
import { quoteIdent, withShape, type ComputedColumn, type JsonSchema, type TapPlugin } from 'tap-timescaledb';

export interface MaskingOptions {
  /** tap_stream_id -> the columns to mask */
  readonly columns: Record<string, string[]>;
}

const MASKED_SCHEMA: JsonSchema = { type: ['string', 'null'] };

/** Exported next to createPlugin, so the tap validates the options before the factory runs. */
export const optionsSchema: JsonSchema = {
  type: 'object',
  required: ['columns'],
  properties: {
    columns: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string' } },
      description: 'tap_stream_id -> the columns to mask',
    },
  },
  additionalProperties: false,
};

/** A masked column: same name, the digest computed by the server, a SCHEMA that says string. */
function masked(name: string): ComputedColumn {
  return { name, sql: `encode(sha256(convert_to(${quoteIdent(name)}::text, 'UTF8')), 'hex')`, kind: 'string', schema: MASKED_SCHEMA };
}

export function createPlugin(options: MaskingOptions): TapPlugin {
  return {
    name: 'masking',
    optionsSchema,
    register(_container, ctx) {
      // the shape replaces the listed columns in the plan, so they reach the SCHEMA as well as the
      // records, whatever the catalog was discovered with; unselected columns are left alone
      ctx.readers.wrap(
        (plan) => plan.tapStreamId in options.columns,
        withShape('masking', (plan) => ({
          columns: (options.columns[plan.tapStreamId] ?? []).filter((c) => plan.columns.some((p) => p.name === c)).map(masked),
        })),
      );
    },
    async enrichCatalog(catalog) {
      for (const entry of catalog.streams) {
        for (const col of options.columns[entry.tap_stream_id] ?? []) {
          if (entry.schema.properties[col]) entry.schema.properties[col] = { ...MASKED_SCHEMA };
        }
      }
    },
  };
}
