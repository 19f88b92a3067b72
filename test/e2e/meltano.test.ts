import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { embeddedDatabase, type TestDatabase } from '../helpers/databases.js';
import { createMetricsHypertable, sourceNotes } from '../helpers/hypertable-fixtures.js';
import { meltanoProject, pythonToolsSkip, REPO, run, TOOLS } from '../helpers/python-tools.js';
import { meltanoKind } from '../../src/dev/meltano-hub-definition.js';
import { runTap } from '../helpers/run-tap.js';

const skip = pythonToolsSkip();

describe.skipIf(skip)(`Meltano runs the tap (${skip ?? 'meltano, target-jsonl'})`, () => {
  let db: TestDatabase;
  let project: string;
  let env: Record<string, string>;
  const meltano = (...args: string[]) => run(TOOLS.meltano, args, { cwd: project, env });

  beforeAll(async () => {
    db = await embeddedDatabase();
    await createMetricsHypertable(db, 'readings', 8);
    await db.sql(`CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
    await db.sql(`INSERT INTO sites (id, name) VALUES (1, 'north'), (2, 'south')`);
    project = meltanoProject();
    // settings through Meltano's environment variables, as a deployment would pass them
    env = { TAP_TIMESCALEDB_URL: db.url, TAP_TIMESCALEDB_STATE_EVERY_N_ROWS: '100', TAP_LOG_LEVEL: 'debug' };
  }, 180_000);
  afterAll(async () => db?.close());

  it('declares the capabilities and settings that --about prints: names, kinds, defaults and options', async () => {
    const about = JSON.parse((await runTap(['--about'])).stdout);
    const extractor = parseYaml(readFileSync(join(REPO, 'meltano.yml'), 'utf8')).plugins.extractors[0];
    expect(extractor.capabilities).toEqual(about.capabilities);
    const declared = new Map<string, Record<string, unknown>>(extractor.settings.map((s: Record<string, unknown>) => [s.name, s]));
    expect([...declared.keys()].sort()).toEqual(Object.keys(about.settings.properties).sort());
    for (const [name, schema] of Object.entries<Record<string, any>>(about.settings.properties)) {
      const setting = declared.get(name)!;
      expect(setting.kind, name).toBe(meltanoKind(schema));
      expect(setting.value, name).toEqual(schema.default);
      if (schema.enum)
        expect(
          (setting.options as { value: string }[]).map((o) => o.value),
          name,
        ).toEqual([...new Set(schema.enum.map(String))]);
    }
  });

  it('meltano invoke --discover lists the hypertable and hides its chunks', async () => {
    const r = await meltano('invoke', 'tap-timescaledb', '--discover');
    expect(r.code, r.stderr).toBe(0);
    const ids = JSON.parse(r.stdout)
      .streams.map((s: { tap_stream_id: string }) => s.tap_stream_id)
      .sort();
    expect(ids).toEqual(['public-readings', 'public-sites']);
  });

  it('meltano config test passes, and the tap exits on the SIGTERM it sends', async () => {
    const r = await meltano('config', 'test', 'tap-timescaledb');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Plugin configuration is valid/);
  });

  it('meltano run into target-jsonl, then an incremental run that reads only the new chunk with the state Meltano kept', async () => {
    let r = await meltano('config', 'set', 'tap-timescaledb', '_select', '["public-readings.*"]');
    expect(r.code, r.stderr).toBe(0);
    r = await meltano(
      'config',
      'set',
      'tap-timescaledb',
      '_metadata',
      JSON.stringify({ 'public-readings': { 'replication-method': 'INCREMENTAL', 'replication-key': 'ts' } }),
    );
    expect(r.code, r.stderr).toBe(0);
    const first = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(first.code, first.stderr).toBe(0);
    const file = join(project, 'output', 'public-readings.jsonl');
    const lines = () =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    expect(
      lines()
        .map((r) => r.note)
        .sort(),
    ).toEqual(await sourceNotes(db, 'readings'));
    const chunksEndingAfter = async (ts: string) =>
      Number(
        (
          await db.sql<{ n: string }>(
            `SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'readings' AND range_end > $1`,
            [ts],
          )
        )[0]!.n,
      );
    // every chunk once (8 days x 2 space partitions)
    expect((first.stderr.match(/DEBUG public-readings: chunk /g) ?? []).length).toBe(await chunksEndingAfter('-infinity'));
    const bookmark = '2024-01-08 23:00:00+00'; // the newest row's ts before the inserts below
    // Meltano 4 keeps the STATE under <environment>:<extractor>-to-<loader>
    const stateId = 'dev:tap-timescaledb-to-target-jsonl';
    const list = await meltano('state', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').map((l) => l.trim())).toContain(stateId);
    const kept = await meltano('state', 'get', stateId);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(kept.stdout).singer_state.bookmarks['public-readings'])).toContain('2024-01-08T23:00:00');

    await db.sql(`INSERT INTO readings VALUES ('2024-01-09 06:00+00', 1, 1, 'new-a'), ('2024-01-09 07:00+00', 2, 1, 'new-b')`);
    const second = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(second.code, second.stderr).toBe(0);
    // the chunks of the day holding the bookmark and of the new day: the 7 days before are not read
    const read = (second.stderr.match(/DEBUG public-readings: chunk /g) ?? []).length;
    expect(read).toBe(await chunksEndingAfter(bookmark));
    expect(read).toBeLessThanOrEqual(4);
    const all = lines().map((r) => r.note);
    expect(all).toContain('new-a');
    expect(all).toContain('new-b');
    expect(readdirSync(join(project, 'output'))).toEqual(['public-readings.jsonl']);

    // meltano state clear: the next run starts over and reads every chunk again
    const clear = await meltano('state', 'clear', '--force', stateId);
    expect(clear.code, clear.stderr).toBe(0);
    const third = await meltano('run', 'tap-timescaledb', 'target-jsonl');
    expect(third.code, third.stderr).toBe(0);
    expect((third.stderr.match(/DEBUG public-readings: chunk /g) ?? []).length).toBe(await chunksEndingAfter('-infinity'));
  });
});
