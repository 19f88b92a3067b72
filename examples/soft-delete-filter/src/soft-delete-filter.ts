// An example reader plugin for tap-timescaledb that composes instead of replacing: it wraps whichever
// reader the tap chose for a stream (the default COPY reader on a table, the TimescaleDB chunk reader on
// a hypertable) and only shapes its query. Soft-deleted rows stay in the database (a server-side
// predicate), and each record gains a column the server computes. A hypertable is still read chunk by
// chunk, with per-chunk STATE and resume, because the chunk reader still does the reading.
import { quoteIdent, withShape, type JsonSchema, type StreamPlan, type TapPlugin } from 'tap-timescaledb';

export interface SoftDeleteOptions {
  /** the boolean column that marks a row deleted (default `is_deleted`); streams without it are left alone */
  readonly column: string;
  /** the name of the added column that holds the database user who read the row (default `_extracted_by`; "" for none) */
  readonly extracted_by_column: string;
}

/** Exported next to createPlugin, so the tap validates the options (and fills in defaults) before the factory runs. */
export const optionsSchema: JsonSchema = {
  type: 'object',
  properties: {
    column: { type: 'string', minLength: 1, default: 'is_deleted', description: 'the boolean column that marks a row deleted' },
    extracted_by_column: { type: 'string', default: '_extracted_by', description: 'an added column with current_user; "" for none' },
  },
  additionalProperties: false,
};

export function createPlugin(options: SoftDeleteOptions): TapPlugin {
  // the stream has the column when discovery saw it, selected or not: the predicate needs it in the table only
  const hasColumn = (plan: StreamPlan): boolean => options.column in plan.entry.schema.properties;
  return {
    name: 'soft-delete-filter',
    optionsSchema,
    register(_container, ctx) {
      ctx.readers.wrap(
        hasColumn,
        withShape('soft-delete-filter', {
          // IS NOT TRUE keeps rows whose flag is NULL: only rows marked deleted are left out
          where: [`${quoteIdent(options.column)} IS NOT TRUE`],
          columns: options.extracted_by_column
            ? [{ name: options.extracted_by_column, sql: 'current_user', kind: 'string', schema: { type: 'string' } }]
            : [],
        }),
      );
    },
  };
}
