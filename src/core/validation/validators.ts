import { createRequire } from 'node:module';
import type { Ajv as AjvInstance, Options, ValidateFunction } from 'ajv';
import type * as AjvModule from 'ajv';
import type { JsonSchema } from '../config/config-schema.js';

const require = createRequire(import.meta.url);

/** The schemas whose validators `npm run build` writes as code (scripts/build-validators.mjs). */
export type BuiltValidator = 'catalog' | 'state' | 'config' | 'json-schema';

/** Ajv's options for each: every problem at once; the config also gets its defaults filled in. */
export const VALIDATOR_OPTIONS: Record<BuiltValidator, Options> = {
  catalog: { allErrors: true, strict: false },
  state: { allErrors: true, strict: false },
  config: { allErrors: true, useDefaults: true, strict: false },
  'json-schema': { allErrors: false, strict: false },
};

export const DRAFT_07 = 'http://json-schema.org/draft-07/schema';
/** the schema of the `json-schema` validator: the draft-07 meta-schema, by reference */
export const DRAFT_07_SCHEMA: JsonSchema = { $ref: DRAFT_07 };

/** per schema object: its JSON is written out once, not at each call (the draft-07 check runs per column) */
const cache = new WeakMap<JsonSchema, ValidateFunction>();

/**
 * The validator of one of the tap's own schemas. Importing Ajv and compiling the catalog, state, config
 * and draft-07 schemas took ~0.12 s of a one-row sync's ~0.43 s (measured), at every start, so the build
 * writes them as Ajv standalone code into dist/src/core/generated/. Each file holds the JSON of the schema
 * it was made from: when the schema differs (a plugin added config settings, a run from the sources
 * without a build), Ajv compiles it here, as before.
 */
export function validatorFor(name: BuiltValidator, schema: JsonSchema): ValidateFunction {
  let validate = cache.get(schema);
  if (!validate) {
    validate = built(name, JSON.stringify(schema)) ?? compile(name, schema);
    cache.set(schema, validate);
  }
  return validate;
}

/** The validator of the draft-07 meta-schema: is a column's schema in the catalog a JSON Schema at all. */
export function jsonSchemaValidator(): ValidateFunction {
  return validatorFor('json-schema', DRAFT_07_SCHEMA);
}

function built(name: BuiltValidator, schemaText: string): ValidateFunction | undefined {
  let mod: { default?: ValidateFunction; schemaText?: string };
  try {
    mod = require(`../generated/${name}.cjs`) as typeof mod;
  } catch {
    return undefined;
  }
  return mod.schemaText === schemaText ? mod.default : undefined;
}

/** Ajv itself, loaded on first use: a run that finds every validator built never loads it. */
export function compile(name: BuiltValidator, schema: JsonSchema): ValidateFunction {
  const ajv = newAjv(VALIDATOR_OPTIONS[name], name === 'config');
  return name === 'json-schema' ? ajv.getSchema(DRAFT_07)! : ajv.compile(schema);
}

/** An Ajv instance; with `formats`, those of ajv-formats (a plugin's config settings may use them). */
export function newAjv(options: Options, formats: boolean): AjvInstance {
  const { Ajv } = require('ajv') as typeof AjvModule;
  const ajv = new Ajv(options);
  return formats ? (require('ajv-formats') as (a: AjvInstance) => AjvInstance)(ajv) : ajv;
}
