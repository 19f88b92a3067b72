import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { HUB_DEFINITION_PATH, hubSettingSchemas, hubYaml, meltanoKind, type AboutJson } from '../../src/dev/meltano-hub-definition.js';
import { runTap } from '../helpers/run-tap.js';

/** Setting kinds the hub's schema allows (schemas/common/base_setting.schema.json of github.com/meltano/hub). */
const HUB_KINDS = [
  'oauth',
  'hidden',
  'password',
  'date_iso8601',
  'file',
  'email',
  'integer',
  'options',
  'object',
  'array',
  'boolean',
  'string',
  'decimal',
];
/** Extractor capabilities the hub knows (schemas/common/extractors_specific.schema.json). */
const HUB_CAPABILITIES = [
  'properties',
  'catalog',
  'discover',
  'state',
  'about',
  'stream-maps',
  'schema-flattening',
  'activate-version',
  'batch',
  'test',
  'log-based',
  'structured-logging',
];

interface HubSetting {
  name: string;
  kind: string;
  label: string;
  description: string;
  value?: unknown;
  sensitive?: boolean;
  options?: { label: string; value: string }[];
}

/**
 * meltano-hub/extractors/tap-timescaledb.yml is what Meltano Hub would list and what a Meltano 4 project adds
 * with `meltano add tap-timescaledb --from-ref` (npm-package.test.ts runs that quick start): it must say
 * what the built tap's --about says, in the hub's format.
 */
describe('the Meltano Hub plugin definition (meltano-hub/extractors/tap-timescaledb.yml)', () => {
  const text = readFileSync(HUB_DEFINITION_PATH, 'utf8');
  const hub = parseYaml(text) as Record<string, any>;
  const about = async (): Promise<AboutJson> => {
    const r = await runTap(['--about', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as AboutJson;
  };

  it('is up to date with --about (npm run meltano-hub rewrites it)', async () => {
    expect(text).toBe(hubYaml(await about()));
  });

  it('lists every setting of --about and no other, with its kind, description, default and options', async () => {
    const info = await about();
    const declared = new Map<string, HubSetting>((hub.settings as HubSetting[]).map((s) => [s.name, s]));
    const expected = hubSettingSchemas(info);
    expect([...declared.keys()].sort()).toEqual(expected.map(([n]) => n));
    expect([...declared.keys()].filter((n) => !n.includes('.'))).toEqual(Object.keys(info.settings.properties).sort());
    // ssh_tunnel as MeltanoLabs tap-postgres lists it: dotted, its secrets sensitive
    expect(declared.get('ssh_tunnel.private_key')).toMatchObject({ kind: 'password', sensitive: true });
    expect(declared.get('ssh_tunnel.private_key_password')).toMatchObject({ kind: 'password', sensitive: true });
    expect(declared.get('ssh_tunnel.port')).toMatchObject({ kind: 'integer', value: 22 });
    for (const [name, schema] of expected) {
      const s = declared.get(name)!;
      expect(s.kind, name).toBe(meltanoKind(schema));
      expect(s.description, name).toBe(schema.description);
      expect(s.description.length, name).toBeGreaterThan(0);
      expect(s.label, name).toMatch(/^[A-Z(]/);
      expect(s.value, name).toEqual(schema.default);
      expect(s.sensitive ?? false, name).toBe(schema.secret ?? false);
      if (schema.enum) expect(s.options!.map((o) => o.value)).toEqual([...new Set(schema.enum.map(String))]);
      else expect(s.options, name).toBeUndefined();
    }
  });

  it("declares --about's capabilities (catalog, not also properties, as the hub asks) and setting groups of real settings", async () => {
    const { capabilities } = await about();
    expect(hub.capabilities).toEqual(capabilities.filter((c) => c !== 'properties').sort());
    expect(hub.capabilities).toEqual(
      expect.arrayContaining(['about', 'activate-version', 'batch', 'catalog', 'discover', 'log-based', 'state']),
    );
    for (const c of hub.capabilities as string[]) expect(HUB_CAPABILITIES, c).toContain(c);
    const names = new Set((hub.settings as HubSetting[]).map((s) => s.name));
    expect(hub.settings_group_validation).toEqual([['url'], ['database', 'host', 'user']]);
    for (const group of hub.settings_group_validation as string[][]) for (const n of group) expect(names, n).toContain(n);
  });

  it("has the hub's required keys and layout: sorted keys and settings, block style, sequences not indented", () => {
    for (const key of ['name', 'namespace', 'variant', 'label', 'quality', 'description', 'executable']) expect(hub[key], key).toBeTruthy();
    expect(hub).toMatchObject({ name: 'tap-timescaledb', namespace: 'tap_timescaledb', executable: 'tap-timescaledb' });
    expect(hub.pip_url, 'an npm package: Meltano runs the tap-timescaledb on PATH').toBeUndefined();
    const sorted = (keys: string[]) => [...keys].sort();
    expect(Object.keys(hub)).toEqual(sorted(Object.keys(hub)));
    for (const s of hub.settings as HubSetting[]) {
      expect(Object.keys(s), s.name).toEqual(sorted(Object.keys(s)));
      expect(HUB_KINDS, s.name).toContain(s.kind);
    }
    const settingNames = (hub.settings as HubSetting[]).map((s) => s.name);
    expect(settingNames).toEqual(sorted(settingNames));
    expect(text).not.toMatch(/^\s+[\w-]+: [{[]/m); // no flow mappings or sequences (the hub's yamllint: braces)
    expect(text).toMatch(/^settings:\n- description:/m);
  });
});

/**
 * Docs must show Meltano 4's commands, each run by a test: the quick-start block is run line by line
 * (npm-package.test.ts); any other `meltano <a> <b>` in a code block of README.md or docs/ must appear as
 * `'<a>', '<b>'` in the arguments of a test. Meltano 3's `meltano config tap-timescaledb set` fails here.
 */
describe('every Meltano command in README.md and docs/ is run by a test', () => {
  const REPO = join(import.meta.dirname, '../..');
  const docs = ['README.md', ...readdirSync(join(REPO, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
  const tests = readdirSync(join(REPO, 'test/e2e'))
    .map((f) => readFileSync(join(REPO, 'test/e2e', f), 'utf8'))
    .join('\n');

  it.each(docs)('%s', (file) => {
    const text = readFileSync(join(REPO, file), 'utf8').replace(/<!-- meltano-quick-start[^>]*-->\n```sh\n[\s\S]*?\n```/g, '');
    const blocks = [...text.matchAll(/```(?:sh|bash|shell)?\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const commands = blocks.flatMap((b) => b.split('\n').filter((l) => /^\s*meltano\s/.test(l)));
    for (const command of commands) {
      const words = command.trim().split(/\s+/).slice(1, 3);
      expect(tests, `${file}: ${command.trim()}`).toContain(words.map((w) => `'${w}'`).join(', '));
    }
  });
});
