// An example reader plugin for tap-timescaledb: it reads the streams it is given through the tap's
// default COPY reader, but replaces the listed columns with a SHA-256 digest computed by the server,
// so the clear values never leave the database. It uses only the tap's public plugin API.
import { CopyTableReader, quoteIdent, type PlannedColumn, type StreamPlan, type TableReader, type TapPlugin } from 'tap-timescaledb';

export interface MaskingOptions {
  /** tap_stream_id -> the columns to mask */
  readonly columns: Record<string, string[]>;
  /** reader precedence (the default COPY reader is 0, the TimescaleDB chunk reader 100) */
  readonly precedence?: number;
}

const MASKED_SCHEMA = { type: ['string', 'null'] };

function mask(column: PlannedColumn): PlannedColumn {
  return {
    ...column,
    codec: {
      kind: 'string',
      schema: MASKED_SCHEMA,
      selectExpr: (name) => `encode(sha256(convert_to(${quoteIdent(name)}::text, 'UTF8')), 'hex')`,
    },
  };
}

/** The plan with the listed columns masked, and the SCHEMA saying so, whatever the catalog was discovered with. */
function maskPlan(plan: StreamPlan, columns: readonly string[]): StreamPlan {
  const masked = new Set(columns);
  const properties = { ...plan.entry.schema.properties };
  for (const name of masked) if (name in properties) properties[name] = { ...MASKED_SCHEMA };
  return {
    ...plan,
    columns: plan.columns.map((c) => (masked.has(c.name) ? mask(c) : c)),
    entry: { ...plan.entry, schema: { ...plan.entry.schema, properties } },
  };
}

export function createPlugin(options: MaskingOptions): TapPlugin {
  // reading is the default COPY reader's: the plan it gets already has the masked columns
  const reader: TableReader = new CopyTableReader();
  return {
    name: 'masking',
    optionsSchema: {
      type: 'object',
      required: ['columns'],
      properties: {
        columns: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
        precedence: { type: 'integer' },
      },
      additionalProperties: false,
    },
    register(_container, ctx) {
      ctx.readers.register({
        name: 'masking',
        precedence: options.precedence ?? 200,
        claims: (plan) => plan.tapStreamId in options.columns,
        prepare: (plan) => maskPlan(plan, options.columns[plan.tapStreamId] ?? []),
        reader,
      });
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
