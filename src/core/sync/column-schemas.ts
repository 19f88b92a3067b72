import { Ajv } from 'ajv';
import type { JsonSchema } from '../config/config-schema.js';

// one instance: the draft-07 meta-schema is compiled once, then each column schema is only validated against it
const ajv = new Ajv({ strict: false, allErrors: false });

/**
 * A selected column's schema goes from the catalog into the SCHEMA message as it is (a user may have
 * narrowed it, or added a format). One that is not a JSON Schema (`"type": [["object"]]`) made a SCHEMA
 * no target can compile, followed by records; it is refused here, before any message, with the column
 * and the path in its schema.
 */
export function columnSchemaProblem(streamId: string, column: string, schema: JsonSchema | undefined): string | undefined {
  if (schema === undefined) return undefined;
  if (ajv.validateSchema(schema as object)) return undefined;
  const e = ajv.errors?.[0];
  return `stream ${streamId}: the catalog's schema of column "${column}" is not a valid JSON Schema (at ${e?.instancePath || '/'} ${e?.message ?? 'invalid'}); fix it or run --discover`;
}
