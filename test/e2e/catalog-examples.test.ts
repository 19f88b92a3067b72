import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyExample, CATALOG_EXAMPLES } from '../../src/dev/catalog-examples.js';
import { createSample, type SampleCounts } from '../../src/dev/demo-sample.js';
import { streamMetadata, type Catalog } from '../../src/core/singer/catalog.js';
import { embeddedDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, tmpJson } from '../helpers/run-tap.js';

const REPO = resolve(__dirname, '../..');
/** sizes and estimates that vary with the engine's storage, not with the catalog's meaning */
const volatile = (key: string): boolean => key === 'row-count' || key.endsWith('-bytes');
const stable = (catalog: Catalog): unknown =>
  catalog.streams.map((s) => ({
    ...s,
    metadata: s.metadata.map((m) => ({
      breadcrumb: m.breadcrumb,
      metadata: Object.fromEntries(Object.entries(m.metadata).filter(([k]) => !volatile(k))),
    })),
  }));

describe('catalog-examples/ against the demo sample they were written for (embedded TimescaleDB)', () => {
  let db: TestDatabase;
  let counts: SampleCounts;
  let discovered: Catalog;

  beforeAll(async () => {
    db = await embeddedDatabase();
    counts = await createSample(db.url);
    discovered = await discover(tmpJson({ url: db.url }));
  }, 180_000);
  afterAll(async () => db?.close());

  describe.each(CATALOG_EXAMPLES.map((e) => [e.file, e] as const))('%s', (file, example) => {
    const onDisk = (): Catalog => JSON.parse(readFileSync(join(REPO, 'catalog-examples', file), 'utf8'));

    it('is what discovery gives today with its selection (regenerate: node dist/src/dev/catalog-examples.js)', () => {
      expect(stable(onDisk())).toEqual(stable(applyExample(discovered, example)));
    });

    it('syncs every selected stream in full, with the replication it names', async () => {
      const run = await runTap([
        '--config',
        tmpJson({ url: db.url, ...example.config }),
        '--catalog',
        join(REPO, 'catalog-examples', file),
      ]);
      expect(run.code, run.stderr).toBe(0);
      const expected: Record<string, number> = {
        'public-sensors': counts.sensors,
        'public-devices': counts.devices,
        'public-sensors_hourly': counts.hourly,
      };
      for (const id of Object.keys(example.streams)) {
        expect(records(run.messages, id), id).toHaveLength(expected[id]!);
        const bookmark = lastState(run.messages)!.bookmarks[id];
        // the method the file names, or discovery's default in it when the example leaves it out
        const md = streamMetadata(onDisk().streams.find((s) => s.tap_stream_id === id)!);
        const key = md['replication-key'] as string;
        if (md['replication-method'] === 'INCREMENTAL') {
          const [{ max }] = await db.sql<{ max: string }>(
            `SELECT to_char(max(${key}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS max FROM ${id.split('-')[1]}`,
          );
          expect(bookmark).toMatchObject({ replication_key: key, replication_key_value: max });
        } else {
          expect(md['replication-method'] ?? 'FULL_TABLE').toBe('FULL_TABLE');
          expect(run.messages.filter((m) => m.type === 'ACTIVATE_VERSION' && m.stream === id)).toHaveLength(2);
        }
      }
      if (example.streams['public-sensors']) expect(run.stderr).toMatch(/public-sensors: .* with reader timescaledb-chunks/);
    });
  });
});

describe('npm run demo', () => {
  it('starts the embedded engine, discovers, syncs and syncs again incrementally, with no setup', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO, 'dist/src/dev/demo.js')], { cwd: REPO, timeout: 120_000 });
    const rows = (stream: string) =>
      [...stdout.matchAll(new RegExp(`^ +${stream} +(\\d+) +(\\S+) +(\\S+)$`, 'gm'))].map((m) => [Number(m[1]), m[2], m[3]]);
    const sample = /sensors +hypertable, (\d+) one-day chunks \((\d+) compressed\), (\d+) rows/.exec(stdout)!;
    const [chunks, , sensors] = [Number(sample[1]), Number(sample[2]), Number(sample[3])];
    // first run: every row through the chunk reader, every chunk read; second run: the bookmark's chunk and the new one
    expect(rows('public-sensors')).toEqual([
      [sensors, String(chunks), 'timescaledb-chunks'],
      [expect.any(Number), '2', 'timescaledb-chunks'],
    ]);
    expect(rows('public-devices')[0]).toEqual([5, '-', 'copy-table']);
    // the aggregate, INCREMENTAL by default: in full, then only its refresh window: bookmark - 1 day = 2024-06-13 23:00 up to the new 06-15 00:00 bucket, 26 hours x 5 devices
    const hourly = rows('public-sensors_hourly');
    expect(hourly.map((r) => r[2])).toEqual(['timescaledb-continuous-aggregate', 'timescaledb-continuous-aggregate']);
    expect(hourly[1]![0]).toBe(26 * 5);
    expect(stdout).not.toMatch(/_hyper_|_timescaledb_internal-/);
    expect(stdout).toMatch(/last STATE: .*"currently_syncing":null/);
  }, 150_000);
});
