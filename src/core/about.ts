import { readFileSync } from 'node:fs';
import type { JsonSchema } from './config/config-schema.js';

/** What the tap can do, declared once; `--about` prints it and meltano.yml's capabilities match it. */
export const CAPABILITIES = ['catalog', 'discover', 'state', 'about', 'properties', 'batch'] as const;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function aboutInfo(schema: JsonSchema): Record<string, unknown> {
  return {
    name: 'tap-timescaledb',
    description: 'Singer tap for PostgreSQL and TimescaleDB: discovers tables and hypertables and syncs them through COPY, chunk by chunk.',
    version: packageVersion(),
    capabilities: [...CAPABILITIES],
    settings: schema,
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
  ].join('\n');
}
