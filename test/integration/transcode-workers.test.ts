import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { nativeTimescaleDatabase, nativeTimescaleSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';

const STOP_PLUGIN = resolve(__dirname, '../fixtures/stop-and-count-plugin.mjs');

/** RECORD lines as written, without time_extracted and version (they differ from run to run), sorted. */
function recordLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{"type":"RECORD"'))
    .map((l) => l.replace(/,"time_extracted":"[^"]*"/, '').replace(/,"version":\d+/, ''))
    .sort();
}

/** RECORD lines in output order, by the day of their ts (one chunk each). */
function byDay(stdout: string): Record<string, string[]> {
  const days: Record<string, string[]> = {};
  for (const line of stdout.split('\n').filter((l) => l.startsWith('{"type":"RECORD"'))) {
    const day = /"ts":"(\d{4}-\d\d-\d\d)/.exec(line)![1]!;
    (days[day] ??= []).push(line.replace(/,"time_extracted":"[^"]*"/, '').replace(/,"version":\d+/, ''));
  }
  return days;
}

/**
 * max_concurrent_chunks > 1: the COPY-text transcoder runs on worker threads (transcode-workers.ts), so
 * concurrent chunk reads are not bound to one thread. Only a server takes several connections (the
 * embedded engine clamps the setting to 1), so native only.
 */
describe.skipIf(!!nativeTimescaleSkipReason && !process.env.CI)('transcoding on worker threads (native TimescaleDB)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeTimescaleDatabase();
    // the shape and the awkward values: fractional timestamps, 17-digit doubles, escapes, unicode, NULLs
    await db.sql(`CREATE TABLE mixed (ts timestamptz NOT NULL, device int, note text, value double precision, level smallint, attrs jsonb);
      SELECT create_hypertable('mixed', by_range('ts', interval '1 day'));
      INSERT INTO mixed SELECT '2024-01-01'::timestamptz + g * interval '8.641 seconds', CASE WHEN g % 97 = 0 THEN NULL ELSE g % 1000 END,
        CASE g % 5 WHEN 0 THEN 'tab' || chr(9) || 'nl' || chr(10) || 'bs\\' WHEN 1 THEN 'ünï ☃ ' || g WHEN 2 THEN NULL ELSE 'n' || g END,
        g::float8 / 7 * 1.1, (g % 300)::smallint, CASE WHEN g % 3 = 0 THEN jsonb_build_object('k', g % 17, 's', 'v"' || g) END
      FROM generate_series(0, 8 * 10000 - 1) g;
      ALTER TABLE mixed SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
      SELECT compress_chunk(c) FROM show_chunks('mixed', older_than => '2024-01-03'::timestamptz) c;
      CREATE TABLE padded (ts timestamptz NOT NULL, note text NOT NULL, pad text);
      SELECT create_hypertable('padded', by_range('ts', interval '1 day'));
      INSERT INTO padded SELECT '2024-01-01'::timestamptz + g * interval '4 seconds', 'p' || g, repeat('x', 200) FROM generate_series(0, 4 * 21600 - 1) g;`);
  }, 120_000);
  afterAll(async () => db?.close());

  it('max_concurrent_chunks 3 and transcode_workers: the same RECORD lines as one chunk at a time on the reading thread', async () => {
    const catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-mixed': {} }));
    const threaded = await runTap([
      '--config',
      tmpJson({ url: db.url, max_concurrent_chunks: 3, transcode_workers: true }),
      '--catalog',
      catalog,
    ]);
    const single = await runTap(['--config', tmpJson({ url: db.url, chunk_prefetch: false }), '--catalog', catalog]);
    const without = await runTap(['--config', tmpJson({ url: db.url, max_concurrent_chunks: 3 }), '--catalog', catalog]);
    expect(without.stderr, 'off by default').not.toContain('worker threads');
    expect(threaded.code, threaded.stderr).toBe(0);
    expect(single.code, single.stderr).toBe(0);
    expect(threaded.stderr).toMatch(/public-mixed: transcoding on [23] worker threads/);
    expect(single.stderr).not.toContain('worker threads');
    const lines = recordLines(threaded.stdout);
    expect(lines.length).toBe(80_000);
    expect(lines).toEqual(recordLines(single.stdout));
    // and each chunk (one day) in its COPY's order: the threads never reorder a chunk's rows
    expect(byDay(threaded.stdout)).toEqual(byDay(single.stdout));
  }, 180_000);

  it('transcode_workers 1 with 3 chunks at once: one thread takes them all, INCREMENTAL rows and bookmark as a one-at-a-time read, and its CPU-s logged', async () => {
    // 86,400 rows of ~250 bytes: ~80 input messages, so the input and batch buffers go round many times
    const catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-padded': { method: 'INCREMENTAL', key: 'ts' } }));
    const config = { url: db.url, state_every_n_rows: 5000 };
    const one = await runTap(['--config', tmpJson({ ...config, max_concurrent_chunks: 3, transcode_workers: 1 }), '--catalog', catalog]);
    const single = await runTap(['--config', tmpJson({ ...config, chunk_prefetch: false }), '--catalog', catalog]);
    expect(one.code, one.stderr).toBe(0);
    expect(single.code, single.stderr).toBe(0);
    expect(one.stderr).toContain('public-padded: transcoding on 1 worker threads');
    expect(one.stderr).toMatch(/public-padded: transcode workers: 1 threads, \d+\.\d\d CPU-s; the reading thread \d+\.\d\d CPU-s/);
    const lines = recordLines(one.stdout);
    expect(lines.length).toBe(4 * 21600);
    expect(lines).toEqual(recordLines(single.stdout));
    expect(byDay(one.stdout)).toEqual(byDay(single.stdout));
    const bookmark = (run: typeof one) => lastState(run.messages)?.bookmarks['public-padded'];
    expect(bookmark(one).replication_key_value).toBe('2024-01-04T23:59:56Z');
    expect(bookmark(one)).toEqual(bookmark(single));
  }, 180_000);

  it('a plugin stops the sync while 3 chunks are read: every reading connection is released', async () => {
    const plugins = [{ module: STOP_PLUGIN, options: { stopAfterRows: 3000 } }];
    const config = tmpJson({
      url: db.url,
      application_name: 'tap-workers-stop',
      max_concurrent_chunks: 3,
      transcode_workers: true,
      state_every_n_rows: 100,
      plugins,
    });
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(await discover(config), { 'public-padded': {} }))]);
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toContain('transcoding on');
    expect(run.stderr).toContain('INFO stop-and-count: 0 busy connections after the stop');
    expect(records(run.messages).length).toBeLessThan(3100);
  }, 120_000);
});
