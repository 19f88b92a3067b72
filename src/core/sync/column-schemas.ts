import type { Ajv } from 'ajv';
import type { JsonSchema } from '../config/config-schema.js';
import { DRAFT_07, jsonSchemaValidator, newAjv, VALIDATOR_OPTIONS } from '../validation/validators.js';

/** for a schema that names its own meta-schema ($schema): Ajv, loaded then */
let ajv: Ajv | undefined;

/**
 * A selected column's schema goes from the catalog into the SCHEMA message as it is (a user may have
 * narrowed it, or added a format). One that is not a JSON Schema (`"type": [["object"]]`) made a SCHEMA
 * no target can compile, followed by records; it is refused here, before any message, with the column
 * and the path in its schema.
 */
export function columnSchemaProblem(streamId: string, column: string, schema: JsonSchema | undefined): string | undefined {
  if (schema === undefined) return undefined;
  const meta = (schema as { $schema?: unknown }).$schema;
  let e: { instancePath: string; message?: string } | undefined;
  if (meta === undefined || (typeof meta === 'string' && meta.replace(/#$/, '') === DRAFT_07)) {
    const validate = jsonSchemaValidator();
    if (validate(schema)) return undefined;
    e = validate.errors?.[0];
  } else {
    ajv ??= newAjv(VALIDATOR_OPTIONS['json-schema'], false);
    if (ajv.validateSchema(schema as object)) return undefined;
    e = ajv.errors?.[0];
  }
  return `stream ${streamId}: the catalog's schema of column "${column}" is not a valid JSON Schema (at ${e?.instancePath || '/'} ${e?.message ?? 'invalid'}); fix it or run --discover`;
}
