// Run by `npm run build` after tsc: writes the validators of the tap's own schemas (catalog, state, the
// config with the built-in plugins' settings, the draft-07 meta-schema) as Ajv standalone code, so a run
// neither imports nor runs Ajv's compiler (src/core/validation/validators.ts says why and falls back).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
const require = createRequire(import.meta.url);
const standaloneCode = require('ajv/dist/standalone').default;
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { VALIDATOR_OPTIONS, DRAFT_07, DRAFT_07_SCHEMA, newAjv } = await load('core/validation/validators.js');
const { catalogInputSchema, stateInputSchema } = await load('core/singer/input-schemas.js');
const { buildConfigSchema } = await load('core/config/config-schema.js');
const { builtinPlugins } = await load('plugins/builtin-plugins.js');

const extra = {};
for (const plugin of builtinPlugins()) Object.assign(extra, plugin.configSchema ?? {});
const schemas = {
  catalog: catalogInputSchema,
  state: stateInputSchema,
  config: buildConfigSchema(extra),
  'json-schema': DRAFT_07_SCHEMA,
};

const out = join(dist, 'core/generated');
mkdirSync(out, { recursive: true });
for (const [name, schema] of Object.entries(schemas)) {
  const ajv = newAjv({ ...VALIDATOR_OPTIONS[name], code: { source: true } }, name === 'config');
  const validate = name === 'json-schema' ? ajv.getSchema(DRAFT_07) : ajv.compile(schema);
  const code = standaloneCode(ajv, validate);
  writeFileSync(join(out, `${name}.cjs`), `${code}\nmodule.exports.schemaText = ${JSON.stringify(JSON.stringify(schema))};\n`);
}
console.log(`build-validators: ${Object.keys(schemas).join(', ')} -> ${out}`);
