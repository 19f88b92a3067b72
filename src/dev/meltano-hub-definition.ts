/**
 * The extractor's Meltano Hub plugin definition, meltano-hub/extractors/tap-timescaledb.yml, built from
 * what `tap-timescaledb --about --format json` prints: its capabilities, and every setting with a kind,
 * a default, options and a description. The rest (label, keywords, prerequisites, usage) is written here.
 *
 *   npm run meltano-hub              rewrites the file
 *   node dist/src/dev/meltano-hub-definition.js --check   exits 1 when the file is out of date
 *
 * The format is the hub's (https://hub.meltano.com/contribute/plugins, the schemas of
 * github.com/meltano/hub `schemas/plugin_definitions/extractors.schema.json`) and its linter's: keys
 * sorted at every level, settings sorted by name, sequences not indented. A user adds it to a Meltano 4
 * project with `meltano add tap-timescaledb --from-ref <this file's path or URL>`;
 * test/e2e/meltano-hub.test.ts checks it against --about and runs that quick start.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';

/** The repository: dist/src/dev/ when built, src/dev/ when a test imports the source. */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error(`no package.json above ${import.meta.dirname}`);
    dir = dirname(dir);
  }
  return dir;
}
const REPO = repoRoot();
export const HUB_DEFINITION_PATH = join(REPO, 'meltano-hub/extractors/tap-timescaledb.yml');

/** A setting's JSON Schema as `--about` prints it. */
interface AboutSetting {
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly description?: string;
  readonly secret?: boolean;
  readonly properties?: Readonly<Record<string, AboutSetting>>;
}

/**
 * The hub's settings: every setting of --about, and the properties of an object setting whose
 * properties are all scalars too, by dotted name (`ssh_tunnel.private_key`), as MeltanoLabs
 * tap-postgres' definition lists them: Meltano sets a nested value by its dotted name, and keeps one
 * marked sensitive out of meltano.yml and its output.
 */
export function hubSettingSchemas(about: AboutJson): [string, AboutSetting][] {
  const out: [string, AboutSetting][] = [];
  for (const [name, schema] of Object.entries(about.settings.properties)) {
    out.push([name, schema]);
    const props = Object.entries(schema.properties ?? {});
    if (props.length > 0 && props.every(([, p]) => p.type !== 'object' && p.type !== 'array')) {
      for (const [child, p] of props) out.push([`${name}.${child}`, p]);
    }
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface AboutJson {
  readonly name: string;
  readonly description: string;
  readonly capabilities: readonly string[];
  readonly settings: { readonly properties: Readonly<Record<string, AboutSetting>> };
}

/** The Meltano setting kind of a JSON Schema: what Meltano casts `meltano config set` values to. */
export function meltanoKind(schema: AboutSetting): string {
  if (schema.secret) return 'password';
  if (schema.enum) return 'options';
  const types = ([] as string[]).concat(schema.type ?? 'string').filter((t) => t !== 'null');
  const type = types.includes('string') ? 'string' : types[0]!;
  const kinds: Record<string, string> = { integer: 'integer', number: 'decimal', boolean: 'boolean', array: 'array', object: 'object' };
  return kinds[type] ?? 'string';
}

/** Words the hub writes in capitals or in its own spelling, as its hub-utils label maker does. */
const LABEL_WORDS: Record<string, string> = {
  url: 'URL',
  ssl: 'SSL',
  sslmode: 'SSL Mode',
  ms: '(ms)',
  mb: '(MB)',
  n: 'N',
  timescaledb: 'TimescaleDB',
  dbname: 'DB Name',
  ssh: 'SSH',
};

const label = (name: string): string =>
  name
    .split(/[_.]/)
    .map((w) => LABEL_WORDS[w] ?? w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');

/**
 * Hub capabilities: --about's, without `properties`. The tap takes --properties as the older name of
 * --catalog, but the hub asks a tap to declare one of the two, and Meltano uses --catalog when both are.
 */
export const hubCapabilities = (about: AboutJson): string[] => about.capabilities.filter((c) => c !== 'properties').sort();

/** One connection in either of two forms, as the tap's config validation accepts. */
const SETTINGS_GROUPS = [['url'], ['database', 'host', 'user']];

const PREREQ = `Node.js 22.13 or later (an LTS line: 22, 24, 26), and the tap on PATH: \`npm install -g tap-timescaledb\` (the definition has no \`pip_url\`: Meltano does not install npm packages, and runs the \`tap-timescaledb\` it finds on PATH).`;

const USAGE = `## Replication methods

Discovery picks them: hypertables are INCREMENTAL on their time column, continuous aggregates on their bucket
column, other tables FULL_TABLE. \`metadata:\` overrides a stream:

\`\`\`yaml
    metadata:
      public-devices:
        replication-method: INCREMENTAL
        replication-key: updated_at
      public-sensors:
        replication-method: LOG_BASED
\`\`\`

LOG_BASED reads a logical replication slot (pgoutput; \`wal_level = logical\`), chunks included.
\`batch_config\` writes rows to JSONL or Parquet files and sends BATCH messages instead of RECORD lines.
`;

/** The definition as an object, keys in the hub's order (sorted). */
export function hubDefinition(about: AboutJson): Record<string, unknown> {
  const settings = hubSettingSchemas(about).map(([name, schema]) => {
    const kind = meltanoKind(schema);
    const setting: Record<string, unknown> = { description: schema.description ?? '', kind, label: label(name), name };
    if (kind === 'options') setting.options = [...new Set(schema.enum!.map(String))].map((value) => ({ label: value, value }));
    if (schema.secret) setting.sensitive = true;
    if (schema.default !== undefined) setting.value = schema.default;
    return setting;
  });
  return sortKeys({
    name: about.name,
    namespace: 'tap_timescaledb',
    variant: 'tap-timescaledb',
    label: 'TimescaleDB',
    description: 'PostgreSQL and TimescaleDB extractor: hypertables chunk by chunk through COPY, incremental by chunk',
    executable: 'tap-timescaledb',
    capabilities: hubCapabilities(about),
    keywords: ['database', 'postgres', 'timescaledb'],
    domain_url: 'https://github.com/timescale/timescaledb',
    maintenance_status: 'beta',
    quality: 'unknown',
    prereq: PREREQ,
    usage: USAGE,
    settings_group_validation: SETTINGS_GROUPS.map((g) => [...g].sort()),
    settings,
  });
}

function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortKeys) as T;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)])) as T;
  }
  return value;
}

/** The file's text: a comment naming its source, then the definition in the hub's YAML layout. */
export function hubYaml(about: AboutJson): string {
  return (
    '# Generated from `tap-timescaledb --about --format json` by src/dev/meltano-hub-definition.ts (npm run meltano-hub).\n' +
    '# Add it to a Meltano 4 project: meltano add tap-timescaledb --from-ref <path or URL of this file>\n' +
    stringify(hubDefinition(about), { indentSeq: false, lineWidth: 0 })
  );
}

/** What the built CLI prints for --about, from bin/ as Meltano runs it. */
export function aboutFromCli(): AboutJson {
  const out = execFileSync(process.execPath, [join(REPO, 'bin/tap-timescaledb'), '--about', '--format', 'json'], { encoding: 'utf8' });
  return JSON.parse(out) as AboutJson;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const text = hubYaml(aboutFromCli());
  if (process.argv.includes('--check')) {
    if (readFileSync(HUB_DEFINITION_PATH, 'utf8') !== text) {
      process.stderr.write(`${HUB_DEFINITION_PATH} is out of date: npm run meltano-hub\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(HUB_DEFINITION_PATH, text);
    process.stdout.write(`wrote ${HUB_DEFINITION_PATH}\n`);
  }
}
