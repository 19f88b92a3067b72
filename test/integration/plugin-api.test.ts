import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';

const REPO = resolve(__dirname, '../..');
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Builds examples/masking-plugin the way a user would: its own folder, tap-timescaledb as a dependency, tsc. */
function buildExamplePlugin(root: string): string {
  const dir = join(root, 'masking-plugin');
  cpSync(join(REPO, 'examples/masking-plugin'), dir, {
    recursive: true,
    filter: (p) => !p.includes('node_modules') && !p.endsWith('/dist'),
  });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO, join(dir, 'node_modules/tap-timescaledb'), 'dir');
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'pipe' });
  return dir;
}

describe('user plugins through the public API', () => {
  let db: TestDatabase;
  let root: string;
  let pluginDir: string;
  let catalogPath: string;
  const people = [
    { id: 1, name: 'Ada', email: 'ada@example.com' },
    { id: 2, name: 'Grace', email: 'grace@example.com' },
    { id: 3, name: 'Nobody', email: null },
  ];

  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE people (id int PRIMARY KEY, name text, email text)`);
    for (const p of people) await db.sql(`INSERT INTO people VALUES ($1, $2, $3)`, [p.id, p.name, p.email]);
    root = mkdtempSync(join(tmpdir(), 'tap-plugins-'));
    pluginDir = buildExamplePlugin(root);
    const catalog = await discover(tmpJson({ url: db.url }));
    catalogPath = tmpJson(select(catalog, { 'public-people': {} }));
    const plugin = (name: string, body: string) => writeFileSync(join(root, name), body);
    plugin('no-export.mjs', 'export const answer = 42;\n');
    plugin('throws.mjs', "export default { name: 'boom', register() { throw new Error('kaput'); } };\n");
    plugin('dup.mjs', "export default { name: 'masking' };\n");
    plugin('syntax.mjs', 'export default {{;\n');
    const claimer = (name: string, precedence: number) => `
      import { copyTableStrategy } from 'tap-timescaledb';
      export default { name: '${name}', register(_c, ctx) {
        ctx.readers.register({ name: '${name}', precedence: ${precedence}, claims: () => true, reader: copyTableStrategy.reader });
      } };\n`;
    mkdirSync(join(root, 'node_modules'), { recursive: true });
    symlinkSync(REPO, join(root, 'node_modules/tap-timescaledb'), 'dir');
    plugin('claim-a.mjs', claimer('claim-a', 50));
    plugin('claim-b.mjs', claimer('claim-b', 50));
    plugin('claim-c.mjs', claimer('claim-c', 10));
  }, 180_000);
  afterAll(async () => db?.close());

  const maskingOptions = { columns: { 'public-people': ['email'] } };

  it('loads a plugin from a path outside src/ and reads through its reader', async () => {
    const config = tmpJson({ url: db.url, plugins: [{ module: join(pluginDir, 'dist/masking-plugin.js'), options: maskingOptions }] });
    const catalog = await discover(config);
    expect(catalog.streams[0]!.schema.properties.email).toEqual({ type: ['string', 'null'] });
    const run = await runTap(['--config', config, '--catalog', catalogPath]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('with reader masking(copy-table)');
    const got = records(run.messages).sort((a, b) => a.id - b.id);
    expect(got).toEqual(people.map((p) => ({ ...p, email: p.email === null ? null : sha256(p.email) })));
  });

  it('masks a non-text column with a SCHEMA that says string, even with a catalog discovered without the plugin', async () => {
    await db.sql(`CREATE TABLE accounts (id int PRIMARY KEY, pin int NOT NULL); INSERT INTO accounts VALUES (1, 1234), (2, 9876)`);
    const plain = tmpJson({ url: db.url });
    const catalog = tmpJson(select(await discover(plain), { 'public-accounts': {} }));
    const config = tmpJson({
      url: db.url,
      plugins: [{ module: join(pluginDir, 'dist/masking-plugin.js'), options: { columns: { 'public-accounts': ['pin'] } } }],
    });
    const run = await runTap(['--config', config, '--catalog', catalog]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.messages.find((m) => m.type === 'SCHEMA')!.schema.properties.pin).toEqual({ type: ['string', 'null'] });
    expect(
      records(run.messages)
        .map((r) => r.pin)
        .sort(),
    ).toEqual([sha256('1234'), sha256('9876')].sort());
    expect(singerProblems(run.stdout)).toEqual([]);
  });

  it('loads a plugin as an installed package, resolved from the working directory', async () => {
    const project = mkdtempSync(join(tmpdir(), 'tap-project-'));
    writeFileSync(join(project, 'package.json'), '{"name":"my-pipeline","private":true}');
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(pluginDir, join(project, 'node_modules/tap-timescaledb-masking-plugin'), 'dir');
    const config = tmpJson({ url: db.url, plugins: [{ module: 'tap-timescaledb-masking-plugin', options: maskingOptions }] });
    const run = await runTap(['--config', config, '--catalog', catalogPath], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages).find((r) => r.id === 1)!.email).toBe(sha256('ada@example.com'));
  });

  it('turns a plugin off by name with disable_plugins, and says so', async () => {
    const config = tmpJson({
      url: db.url,
      plugins: [{ module: join(pluginDir, 'dist/masking-plugin.js'), options: maskingOptions }],
      disable_plugins: ['masking'],
    });
    const run = await runTap(['--config', config, '--catalog', catalogPath]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WARN plugin masking is turned off by disable_plugins/);
    expect(records(run.messages).find((r) => r.id === 1)!.email).toBe('ada@example.com');
  });

  it('takes the claiming strategy with the highest precedence, and on a tie the one loaded last', async () => {
    const config = tmpJson({ url: db.url });
    const tie = await runTap([
      '--config',
      config,
      '--catalog',
      catalogPath,
      '--plugin',
      join(root, 'claim-a.mjs'),
      '--plugin',
      join(root, 'claim-b.mjs'),
    ]);
    expect(tie.code, tie.stderr).toBe(0);
    expect(tie.stderr).toContain('with reader claim-b');
    const higher = await runTap([
      '--config',
      config,
      '--catalog',
      catalogPath,
      '--plugin',
      join(root, 'claim-a.mjs'),
      '--plugin',
      join(root, 'claim-c.mjs'),
    ]);
    expect(higher.stderr).toContain('with reader claim-a');
    expect(records(higher.messages)).toHaveLength(3);
  });

  const failures: [string, (root: string, pluginDir: string) => unknown[], RegExp][] = [
    [
      'a missing module',
      (r) => [{ module: join(r, 'nope.mjs') }],
      /CRITICAL plugin module .*nope\.mjs not found .*install it or fix the path/,
    ],
    [
      'a missing package',
      () => [{ module: 'tap-timescaledb-no-such-plugin' }],
      /CRITICAL plugin module tap-timescaledb-no-such-plugin not found/,
    ],
    [
      'a module that exports no plugin',
      (r) => [{ module: join(r, 'no-export.mjs') }],
      /CRITICAL plugin module .*no-export\.mjs exports no plugin: export default/,
    ],
    ['a module that does not parse', (r) => [{ module: join(r, 'syntax.mjs') }], /CRITICAL plugin module .*syntax\.mjs failed to load: /],
    ['an exception in register', (r) => [{ module: join(r, 'throws.mjs') }], /CRITICAL plugin boom failed to register: kaput/],
    [
      'a duplicate name',
      (r, p) => [{ module: join(p, 'dist/masking-plugin.js'), options: maskingOptions }, { module: join(r, 'dup.mjs') }],
      /CRITICAL plugin masking is loaded twice \(again from .*dup\.mjs\): remove the duplicate/,
    ],
    [
      'options that fail the plugin schema',
      (_r, p) => [{ module: join(p, 'dist/masking-plugin.js'), options: { colums: {} } }],
      /CRITICAL plugin module .*masking-plugin\.js: invalid options: (?=.*options\.columns is required)(?=.*options\.colums is not a known option)/,
    ],
  ];
  for (const [what, plugins, message] of failures) {
    it(`fails with exit code 5 and a message naming the plugin for ${what}`, async () => {
      const run = await runTap(['--config', tmpJson({ url: db.url, plugins: plugins(root, pluginDir) }), '--catalog', catalogPath]);
      expect(run.code).toBe(5);
      expect(run.stdout).toBe('');
      expect(
        run.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('CRITICAL')),
      ).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    });
  }
});
