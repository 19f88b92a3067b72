import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { nativeDatabase, nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { dropSlots } from '../helpers/log-based.js';
import { meltanoProject, pythonToolsSkip, REPO, run, TOOLS } from '../helpers/python-tools.js';

/** The yaml block after `<!-- <marker> … -->` in README.md, parsed. */
function readmeBlock(marker: string): any {
  const m = new RegExp(`<!-- ${marker}[^>]*-->\\n\`\`\`yaml\\n([\\s\\S]*?)\\n\`\`\``).exec(readFileSync(join(REPO, 'README.md'), 'utf8'));
  if (!m) throw new Error(`no <!-- ${marker} --> block in README.md`);
  const indent = Math.min(...m[1]!.split('\n').map((l) => /^ */.exec(l)![0].length));
  return parseYaml(m[1]!.replace(new RegExp(`^ {${indent}}`, 'gm'), ''));
}

const skip = pythonToolsSkip() ?? nativeTimescaleSkipReason;

/**
 * The README's Meltano sections past the quick start, run as written: `meltano run tap-timescaledb
 * target-postgres` with the README's extractor block (one hypertable LOG_BASED) and loader block merged into
 * this repository's meltano.yml, before and after inserts, updates and deletes; then the README's BATCH block
 * with discovery's methods. The target's live rows equal the source's, deleted ones carry `_sdc_deleted_at`.
 */
describe.skipIf(skip)(`Meltano into target-postgres: one stream LOG_BASED, BATCH files (${skip ?? 'native TimescaleDB'})`, () => {
  let source: TestDatabase;
  let dest: TestDatabase;

  /** A project of this repository's meltano.yml with the README's blocks in it, target-postgres writing to `schema`. */
  async function project(extractor: Record<string, any>, schema: string) {
    const dir = meltanoProject();
    const file = join(dir, 'meltano.yml');
    const manifest = parseYaml(readFileSync(file, 'utf8'));
    const { loader } = readmeBlocks();
    const tap = manifest.plugins.extractors.find((p: { name: string }) => p.name === 'tap-timescaledb');
    Object.assign(tap, extractor);
    const target = manifest.plugins.loaders.find((p: { name: string }) => p.name === loader.name);
    target.config = { ...target.config, ...loader.config, default_target_schema: schema };
    writeFileSync(file, stringifyYaml(manifest));
    const env = { TAP_TIMESCALEDB_URL: source.url, TAP_TIMESCALEDB_SSLMODE: 'disable' };
    const meltano = (...args: string[]) => run(TOOLS.meltano, args, { cwd: dir, env, timeoutMs: 300_000 });
    const r = await meltano('config', 'set', 'target-postgres', 'sqlalchemy_url', dest.url.replace(/^postgres:/, 'postgresql+psycopg:'));
    expect(r.code, r.stderr).toBe(0);
    return meltano;
  }

  function readmeBlocks(): { extractor: Record<string, any>; loader: Record<string, any> } {
    const { plugins } = readmeBlock('meltano-target-postgres');
    return { extractor: plugins.extractors[0], loader: plugins.loaders[0] };
  }

  beforeAll(async () => {
    [source, dest] = await Promise.all([nativeTimescaleDatabase(), nativeDatabase()]);
    await source.sql(`
      CREATE TABLE sensors (ts timestamptz NOT NULL, device int NOT NULL, value double precision, PRIMARY KEY (device, ts));
      SELECT create_hypertable('sensors', by_range('ts', interval '1 day'));
      INSERT INTO sensors SELECT '2024-01-01'::timestamptz + h * interval '1 hour', d, h * 1.5 FROM generate_series(0, 71) h, generate_series(1, 3) d;
      CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL);
      INSERT INTO sites VALUES (1, 'north'), (2, 'south');`);
  }, 300_000);
  afterAll(async () => {
    if (source) await dropSlots(source);
    await source?.close();
    await dest?.close();
  });

  const sensors = (db: TestDatabase, table: string, where = 'true') =>
    db.sql(
      // epoch seconds: the source's timestamptz arrives as a UTC timestamp in the target
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(device || ':' || extract(epoch from ts)::bigint || ':' || coalesce(value::text, '-'), ',' ORDER BY device, ts), '')) AS sum
         FROM ${table} WHERE ${where}`,
    );
  const sites = (db: TestDatabase, table: string) => db.sql(`SELECT id::text, name FROM ${table} ORDER BY id`);
  const live = '_sdc_deleted_at IS NULL';

  it("meltano run copies both streams, then brings the LOG_BASED stream's inserts, updates and deletes", async () => {
    const { extractor } = readmeBlocks();
    const meltano = await project({ select: extractor.select, metadata: extractor.metadata }, 'loaded');
    const first = await meltano('run', 'tap-timescaledb', 'target-postgres');
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(first.stderr).toMatch(/public-sensors: LOG_BASED/);
    expect(await sensors(dest, 'loaded.sensors', live)).toEqual(await sensors(source, 'public.sensors'));
    expect(await sites(dest, 'loaded.sites')).toEqual(await sites(source, 'public.sites'));

    await source.sql(`
      UPDATE sensors SET value = value + 100 WHERE device = 2;
      DELETE FROM sensors WHERE device = 3 AND ts < '2024-01-02';
      INSERT INTO sensors SELECT '2024-01-04'::timestamptz + h * interval '1 hour', d, -h FROM generate_series(0, 5) h, generate_series(1, 3) d;
      UPDATE sites SET name = 'east' WHERE id = 2;`);
    const second = await meltano('run', 'tap-timescaledb', 'target-postgres');
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    const want = await sensors(source, 'public.sensors');
    expect(want[0]!.n).toBe(216 - 24 + 18);
    expect(await sensors(dest, 'loaded.sensors', live)).toEqual(want);
    const [{ n }] = await dest.sql(`SELECT count(*)::int AS n FROM loaded.sensors WHERE _sdc_deleted_at IS NOT NULL`);
    expect(n).toBe(24);
    expect(await sites(dest, 'loaded.sites')).toEqual(await sites(source, 'public.sites'));
  });

  it("meltano run with the README's batch_config: both streams through gzipped JSONL files, equal to the source", async () => {
    const { extractor } = readmeBlocks();
    const { config } = readmeBlock('meltano-batch');
    expect(config.batch_config.storage.root).toBe('file:///tmp/tap-timescaledb-batches');
    const batches = mkdtempSync(join(tmpdir(), 'tap-meltano-batches-'));
    config.batch_config.storage.root = pathToFileURL(batches).href; // a directory of this test's own
    const meltano = await project({ select: extractor.select, config }, 'batched');
    const r = await meltano('run', 'tap-timescaledb', 'target-postgres');
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(readdirSync(batches).filter((f) => f.endsWith('.jsonl.gz')).length).toBeGreaterThan(1);
    expect(r.stderr).toMatch(/batch manifests/);
    expect(await sensors(dest, 'batched.sensors')).toEqual(await sensors(source, 'public.sensors'));
    expect(await sites(dest, 'batched.sites')).toEqual(await sites(source, 'public.sites'));
  });
});
