// An example reader plugin for tap-timescaledb: it replaces the listed columns with a SHA-256 digest
// computed by the server, so the clear values never leave the database. It wraps whichever reader the
// tap chose for the stream (the default COPY reader on a table, the TimescaleDB chunk reader on a
// hypertable, which keeps reading chunk by chunk) instead of replacing it. It uses only the public API.
//
// A key or replication-key column is masked by a record transform instead, in JS, after the tap has taken
// its bookmark from the value read: a resumed run then compares the bookmark with the column itself (a
// server-side shape on a key is refused, since the bookmark would hold the digest and rows would be lost).
import { createHash } from 'node:crypto';
import { quoteIdent, withShape, type ComputedColumn, type JsonSchema, type StreamPlan, type TapPlugin } from 'tap-timescaledb';

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

/** The listed columns of a stream that it reads, split by whether the stream resumes by them. */
function listed(options: MaskingOptions, plan: StreamPlan): { keys: string[]; others: string[] } {
  const cols = (options.columns[plan.tapStreamId] ?? []).filter((c) => plan.columns.some((p) => p.name === c));
  const resumesBy = (c: string) => plan.keyProperties.includes(c) || plan.replicationKey === c;
  return { keys: cols.filter(resumesBy), others: cols.filter((c) => !resumesBy(c)) };
}

/** The digest of a value's JSON text (a number's digits, a string's characters), as hex; null stays null. */
function digest(value: unknown): string | null {
  return value === null || value === undefined ? null : createHash('sha256').update(String(value), 'utf8').digest('hex');
}

export function createPlugin(options: MaskingOptions): TapPlugin {
  return {
    name: 'masking',
    optionsSchema,
    register(_container, ctx) {
      // the shape replaces the listed columns in the plan, so they reach the SCHEMA as well as the
      // records, whatever the catalog was discovered with; unselected columns are left alone
      ctx.readers.wrap(
        (plan) => listed(options, plan).others.length > 0,
        withShape('masking', (plan) => ({ columns: listed(options, plan).others.map(masked) })),
      );
      // keys: after the bookmark is taken; the SCHEMA says string, before the first record
      const keysOf = new Map<string, string[]>();
      ctx.records.transform((plan) => listed(options, plan).keys.length > 0, {
        shape(plan) {
          const { keys } = listed(options, plan);
          keysOf.set(plan.tapStreamId, keys);
          return { retype: Object.fromEntries(keys.map((k) => [k, 'string' as const])) };
        },
        transform(record) {
          for (const k of keysOf.get(record.tapStreamId) ?? []) if (k in record.values) record.values[k] = digest(record.values[k]);
        },
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
