import { readFileSync } from 'node:fs';
import type { JsonSchema } from './config/config-schema.js';

/** What the tap can do, declared once; `--about` prints it and meltano.yml's capabilities match it. */
export const CAPABILITIES = ['catalog', 'discover', 'state', 'about', 'properties', 'log-based', 'batch', 'activate-version'] as const;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** What `--about` says of a loaded plugin: its name, the settings it adds, the JSON Schema of its options. */
export interface AboutPlugin {
  readonly name: string;
  readonly settings: readonly string[];
  readonly options: JsonSchema | null;
}

export function aboutInfo(schema: JsonSchema, plugins?: readonly AboutPlugin[]): Record<string, unknown> {
  return {
    name: 'tap-timescaledb',
    description: 'Singer tap for PostgreSQL and TimescaleDB: discovers tables and hypertables and syncs them through COPY, chunk by chunk.',
    version: packageVersion(),
    capabilities: [...CAPABILITIES],
    settings: schema,
    ...(plugins ? { plugins } : {}),
  };
}

export function aboutMarkdown(info: Record<string, unknown>): string {
  const schema = info.settings as { properties: Record<string, { type?: unknown; description?: string; default?: unknown }> };
  const rows = Object.entries(schema.properties).map(([name, s]) => {
    const type = Array.isArray(s.type) ? s.type.join('|') : String(s.type ?? 'any');
    const def = s.default === undefined ? '' : JSON.stringify(s.default);
    return `| ${name} | ${type} | ${def} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`;
  });
  return [
    `# ${info.name as string} ${info.version as string}`,
    '',
    info.description as string,
    '',
    '## Capabilities',
    '',
    ...(info.capabilities as string[]).map((c) => `- ${c}`),
    '',
    '## Settings',
    '',
    '| Setting | Type | Default | Description |',
    '|---|---|---|---|',
    ...rows,
    '',
    ...pluginsMarkdown(info.plugins as AboutPlugin[] | undefined),
  ].join('\n');
}

/** Each loaded plugin with its settings and a table of its options (from its optionsSchema). */
function pluginsMarkdown(plugins: readonly AboutPlugin[] | undefined): string[] {
  if (!plugins || plugins.length === 0) return [];
  const out = ['## Plugins', ''];
  for (const p of plugins) {
    out.push(`### ${p.name}`, '');
    if (p.settings.length > 0) out.push(`Settings: ${p.settings.map((s) => `\`${s}\``).join(', ')}`, '');
    const options = p.options as { properties?: Record<string, SchemaRow>; required?: string[] } | null;
    if (!options?.properties || Object.keys(options.properties).length === 0) {
      out.push('Options: none', '');
      continue;
    }
    out.push('| Option | Type | Default | Required | Description |', '|---|---|---|---|---|');
    for (const [name, s] of Object.entries(options.properties)) {
      out.push(
        `| ${name} | ${typeOf(s)} | ${s.default === undefined ? '' : JSON.stringify(s.default)} | ${options.required?.includes(name) ? 'yes' : ''} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`,
      );
    }
    out.push('');
  }
  return out;
}

type SchemaRow = { type?: unknown; description?: string; default?: unknown };
const typeOf = (s: SchemaRow): string => (Array.isArray(s.type) ? s.type.join('\\|') : String(s.type ?? 'any'));
