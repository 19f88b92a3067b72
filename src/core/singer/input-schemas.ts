import type { JsonSchema } from '../config/config-schema.js';

/**
 * JSON Schemas of the catalog and the state as the tap reads them. Both files are untrusted input
 * (edited by hand, written by other tools): every field the tap uses is typed here, so a wrong type
 * fails at start-up with the file, the path and the fix (exit 3 / 4), not as a JavaScript error
 * after SCHEMA and STATE were written. Keys the tap does not use stay allowed.
 */

/** A PostgreSQL name or a name derived from one: PostgreSQL text cannot hold NUL. */
const name: JsonSchema = { type: 'string', minLength: 1, pattern: '^[^\\u0000]*$' };
const names: JsonSchema = { type: 'array', items: name };
/** A bookmark value: what a column's value looks like in JSON (bigint and numeric are strings or numbers). */
const scalar: JsonSchema = { type: ['string', 'number', 'null'], pattern: '^[^\\u0000]*$' };

const streamMetadata: JsonSchema = {
  type: 'object',
  properties: {
    selected: { type: 'boolean' },
    'selected-by-default': { type: 'boolean' },
    'replication-method': name,
    'forced-replication-method': name,
    'replication-key': name,
    'table-key-properties': names,
    'valid-replication-keys': names,
    'schema-name': name,
    'table-name': name,
  },
};

const columnMetadata: JsonSchema = {
  type: 'object',
  properties: {
    selected: { type: 'boolean' },
    'selected-by-default': { type: 'boolean' },
    inclusion: { enum: ['available', 'automatic', 'unsupported'] },
  },
};

export const catalogInputSchema: JsonSchema = {
  type: 'object',
  required: ['streams'],
  properties: {
    streams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['tap_stream_id', 'schema'],
        properties: {
          tap_stream_id: name,
          stream: name,
          table_name: name,
          key_properties: names,
          replication_method: name,
          replication_key: name,
          selected: { type: 'boolean' },
          schema: {
            type: 'object',
            required: ['properties'],
            properties: { properties: { type: 'object', propertyNames: name, additionalProperties: { type: 'object' } } },
          },
          metadata: {
            type: 'array',
            items: {
              type: 'object',
              required: ['breadcrumb', 'metadata'],
              properties: { breadcrumb: names, metadata: { type: 'object' } },
              // the stream's entry is at [], a column's at ["properties", column]
              if: { properties: { breadcrumb: { maxItems: 0 } } },
              then: { properties: { metadata: streamMetadata } },
              else: { properties: { breadcrumb: { minItems: 2, maxItems: 2 }, metadata: columnMetadata } },
            },
          },
        },
      },
    },
  },
};

const bookmark: JsonSchema = {
  type: 'object',
  properties: {
    // pasted into every RECORD line of the stream: only a safe integer may get there
    version: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    replication_key: name,
    replication_key_value: scalar,
    last_pk_fetched: { type: 'object', propertyNames: name, additionalProperties: scalar },
    chunks: {
      type: 'object',
      properties: {
        done_before: { type: 'string', pattern: '^-?[0-9]{1,40}$' },
        done: { type: 'array', items: { type: 'string' } },
        filter_value: scalar,
        max_value: scalar,
      },
    },
    // FULL_TABLE in page ranges (readers/page-slices.ts)
    pages: {
      type: 'object',
      required: ['done_before', 'relfilenode', 'xmin'],
      properties: {
        done_before: { type: 'integer', minimum: 0, maximum: 4294967295 },
        relfilenode: { type: 'integer', minimum: 0, maximum: 4294967295 },
        xmin: { type: 'integer', minimum: 0, maximum: 4294967295 },
      },
    },
  },
};

export const stateInputSchema: JsonSchema = {
  type: 'object',
  properties: {
    bookmarks: { type: 'object', propertyNames: name, additionalProperties: bookmark },
    currently_syncing: { type: ['string', 'null'] },
  },
};
