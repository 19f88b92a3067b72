import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { buildConfigSchema, type JsonSchema } from '../../src/core/config/config-schema.js';
import { catalogInputSchema, stateInputSchema } from '../../src/core/singer/input-schemas.js';
import { builtinPlugins } from '../../src/plugins/builtin-plugins.js';

const GENERATED = resolve(__dirname, '../../dist/src/core/generated');
const require = createRequire(import.meta.url);

function configSchema(): JsonSchema {
  const extra: Record<string, JsonSchema> = {};
  for (const plugin of builtinPlugins()) Object.assign(extra, plugin.configSchema ?? {});
  return buildConfigSchema(extra);
}

/** The built validator, and Ajv compiling today's schema as the tap did before the build wrote code. */
function both(name: string, schema: JsonSchema, options: object): [ValidateFunction, ValidateFunction] {
  const file = join(GENERATED, `${name}.cjs`);
  expect(existsSync(file), `${file} is missing: npm run build writes it`).toBe(true);
  const built = require(file) as ValidateFunction & { schemaText: string };
  expect(built.schemaText, `${name}.cjs was built from another schema: run npm run build`).toBe(JSON.stringify(schema));
  const ajv = new Ajv({ strict: false, ...options });
  return [built, name === 'json-schema' ? ajv.getSchema('http://json-schema.org/draft-07/schema')! : ajv.compile(schema)];
}

/** Same verdict, same errors, same defaults filled in (each validator gets its own copy of the input). */
function expectSame([built, ajv]: [ValidateFunction, ValidateFunction], inputs: unknown[]): void {
  for (const input of inputs) {
    const a = structuredClone(input);
    const b = structuredClone(input);
    expect(built(a), JSON.stringify(input)).toBe(ajv(b));
    expect(built.errors ?? null).toEqual(ajv.errors ?? null);
    expect(a).toEqual(b);
  }
}

/**
 * `npm run build` writes the validators of the catalog, state, config and draft-07 schemas as code
 * (scripts/build-validators.mjs), so that a run does not import Ajv and compile them (~0.1 s of every
 * run; test/integration/start-up-loads.test.ts checks that a run loads no Ajv compiler). They must judge
 * exactly as Ajv does on the schemas in the sources.
 */
describe('the validators the build writes', () => {
  it('the config: the same problems and the same defaults as Ajv on the schema with the built-in plugins', () => {
    expectSame(both('config', configSchema(), { allErrors: true, useDefaults: true }), [
      {},
      { host: 'h', port: 5432, user: 'u', database: 'd' },
      { host: 5, port: 'x', max_concurrent_chunks: -1, ssl_mode: 'sometimes' },
      { url: 'postgres://x', state_every_n_rows: 0, chunk_prefetch: 'yes', batch_config: { encoding: { format: 'csv' } } },
      { filter_schemas: [1, 2], unknown_key: true },
    ]);
  });

  it('the catalog and the state: the same problems as Ajv', () => {
    expectSame(both('catalog', catalogInputSchema, { allErrors: true }), [
      { streams: [] },
      { streams: [{ tap_stream_id: '', schema: {} }] },
      {
        streams: [{ tap_stream_id: 's', schema: { properties: { a: 1 } }, metadata: [{ breadcrumb: [], metadata: { selected: 'yes' } }] }],
      },
      { streams: [{ tap_stream_id: 's\u0000', schema: { properties: {} }, metadata: [{ breadcrumb: ['properties'], metadata: {} }] }] },
      [],
    ]);
    expectSame(both('state', stateInputSchema, { allErrors: true }), [
      {},
      { bookmarks: { s: { version: -1, replication_key_value: { a: 1 } } } },
      { bookmarks: { s: { pages: { done_before: 1 }, chunks: { done_before: 'x' } } }, currently_syncing: 3 },
      { bookmarks: { s: { version: 2 ** 60, last_pk_fetched: { id: 'a\u0000' } } } },
    ]);
  });

  it("draft-07: the same verdict as Ajv's meta-schema on column schemas", () => {
    expectSame(both('json-schema', { $ref: 'http://json-schema.org/draft-07/schema' }, { allErrors: false }), [
      { type: 'string' },
      { type: [['object']] },
      { type: ['null', 'integer'], minimum: 'zero' },
      { type: 'string', format: 'date-time', maxLength: -1 },
      { anyOf: [{ type: 'string' }, 5] },
    ]);
  });
});
