import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnEngines, type TestDatabase } from '../helpers/databases.js';
import { chunkKinds, createIntegerHypertable } from '../helpers/hypertable-fixtures.js';
import { REPO } from '../helpers/python-tools.js';
import { discover, parseMessages, records, runTap, select, TAP_BIN, tmpJson } from '../helpers/run-tap.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/** singer-python's metrics.parse matches exactly this (singer/metrics.py: `re.match(r'^INFO METRIC: (.*)$', line)`). */
const SINGER_METRIC = /^INFO METRIC: (.*)$/;
const SINGER_PYTHON = join(REPO, '.venv-singer-tools/bin/python');

interface Point {
  type: string;
  metric: string;
  value: number;
  tags: Record<string, any>;
}

function singerPoints(stderr: string): Point[] {
  return stderr.split('\n').flatMap((line) => {
    const m = SINGER_METRIC.exec(line);
    return m ? [JSON.parse(m[1]!) as Point] : [];
  });
}

const sum = (points: Point[], stream: string): number =>
  points.filter((p) => p.metric === 'record_count' && p.tags.stream === stream).reduce((a, p) => a + p.value, 0);

/** A plugin that waits after every chunk, so a sync lasts long enough for the periodic output to show (deterministically). */
const SLOW_PLUGIN = `export default { name: 'slow', async onPartitionEnd() { await new Promise((r) => setTimeout(r, 80)); } };`;

describeOnEngines('metrics plugin: METRIC lines, progress, summary', (engine) => {
  let db: TestDatabase;
  let catalog: string;
  const config = (extra: Record<string, unknown> = {}) => tmpJson({ url: db.url, ...extra });

  beforeAll(async () => {
    db = await engine.open();
    // items: t = 1..1000 in chunks of 100 (11 chunks, one dimension: a chunk is a partition);
    // the 5 below 500 compressed, then a row into one of them (partially compressed)
    await createIntegerHypertable(db, 'items', 1000);
    await db.sql(`ALTER TABLE items SET (timescaledb.compress, timescaledb.compress_orderby = 't')`);
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('items', older_than => 500) c`);
    await db.sql(`INSERT INTO items VALUES (150, 'late-150')`);
    await db.sql(
      `CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL); INSERT INTO sites SELECT g, 's' || g FROM generate_series(1, 30) g`,
    );
    const discovered: Catalog = await discover(config());
    catalog = tmpJson(select(discovered, { 'public-items': {}, 'public-sites': {} }));
  });
  afterAll(async () => db?.close());

  it('writes Singer METRIC lines: record_count increments sum to the records per stream, a timer per chunk read and per stream', async () => {
    // 11 chunks x 80 ms: the 0.1 s counter interval passes several times during the read
    const slow = tmpJson(SLOW_PLUGIN, 'slow-plugin.mjs');
    const run = await runTap([
      '--config',
      config({ metrics_interval_seconds: 0.1, memory_warn_mb: 1 }),
      '--catalog',
      catalog,
      '--plugin',
      slow,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const points = singerPoints(run.stderr);
    expect(points.filter((p) => p.metric === 'record_count' && p.tags.stream === 'public-items').length).toBeGreaterThan(1);
    for (const stream of ['public-items', 'public-sites']) {
      expect(sum(points, stream)).toBe(records(run.messages, stream).length);
      const timers = points.filter((p) => p.metric === 'sync_duration' && p.tags.stream === stream);
      expect(timers).toHaveLength(1);
      expect(timers[0]).toMatchObject({ type: 'timer', tags: { status: 'succeeded' } });
    }
    const kinds = await chunkKinds(db, 'items');
    const chunkTimers = points.filter((p) => p.metric === 'chunk_duration');
    expect(chunkTimers).toHaveLength(kinds.total);
    expect(
      chunkTimers.every((p) => p.type === 'timer' && p.tags.stream === 'public-items' && p.tags.status === 'succeeded' && p.value >= 0),
    ).toBe(true);
    expect(chunkTimers.filter((p) => p.tags.compressed).length).toBe(kinds.compressed);
    expect(chunkTimers.filter((p) => p.tags.partial).length).toBe(kinds.partial);
    expect(new Set(chunkTimers.map((p) => p.tags.chunk)).size).toBe(kinds.total);
    // memory_warn_mb: 1 is passed at once: one warning, not one per check
    expect(run.stderr.match(/^WARN memory: the tap's RSS is .* past memory_warn_mb \(1 MB\)/gm)).toHaveLength(1);
    expect(run.stderr).toMatch(/^INFO sync summary: succeeded in/m);

    // the real parser agrees, where the Python tools are installed
    if (existsSync(SINGER_PYTHON)) {
      const script =
        'import sys, json\nfrom singer.metrics import parse\nprint(json.dumps([list(p) for p in map(parse, sys.stdin.read().split("\\n")) if p]))';
      const py = spawnSync(SINGER_PYTHON, ['-c', script], { input: run.stderr, encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      expect(JSON.parse(py.stdout)).toEqual(points.map((p) => [p.type, p.metric, p.value, p.tags]));
    }
  });

  it('metrics_format json: singer-sdk structured log records with the fields Meltano parses', async () => {
    const run = await runTap(['--config', config({ metrics_format: 'json' }), '--catalog', catalog]);
    expect(run.code, run.stderr).toBe(0);
    expect(singerPoints(run.stderr)).toEqual([]);
    const jsonLines = run.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    expect(jsonLines.length).toBeGreaterThan(0);
    for (const l of jsonLines) {
      for (const field of ['level', 'pid', 'logger_name', 'ts', 'thread_name', 'app_name', 'stream_name', 'message'])
        expect(l).toHaveProperty(field);
      expect(l.message).toBe('METRIC');
    }
    const points = jsonLines.map((l) => l.metric_info as Point);
    expect(sum(points, 'public-items')).toBe(records(run.messages, 'public-items').length);
    expect(points.filter((p) => p.metric === 'chunk_duration')).toHaveLength((await chunkKinds(db, 'items')).total);
  });

  it('--metrics-file: rows equal the records on stdout, chunks by kind equal the database’s; metrics_file and skipped chunks with their reason', async () => {
    const file = join(dirname(tmpJson({})), 'metrics.json');
    const run = await runTap(['--config', config(), '--catalog', catalog, '--metrics-file', file]);
    expect(run.code, run.stderr).toBe(0);
    const m = JSON.parse(readFileSync(file, 'utf8'));
    const kinds = await chunkKinds(db, 'items');
    expect(m.status).toBe('succeeded');
    expect(m.streams['public-items']).toMatchObject({
      status: 'succeeded',
      reader: 'timescaledb-chunks',
      rows: records(run.messages, 'public-items').length,
      retries: 0,
      chunks: { plain: kinds.plain, compressed: kinds.compressed - kinds.partial, partial: kinds.partial, failed: 0, skipped: 0 },
    });
    expect(m.streams['public-sites']).toMatchObject({ rows: 30, reader: 'copy-table', chunks: { plain: 0, compressed: 0, partial: 0 } });
    expect(m.streams['public-items'].bytes).toBe(
      Buffer.byteLength(
        run.stdout
          .split('\n')
          .filter((l) => l.startsWith('{"type":"RECORD","stream":"public-items"'))
          .join('\n') + '\n',
      ),
    );
    expect(m.rows).toBe(records(run.messages).length);
    expect(m.peak_rss_bytes).toBeGreaterThan(10 * 1024 * 1024);
    // the tap's own peak, not the size of the process that started it (which hosts the embedded engine)
    if (engine.kind === 'embedded') expect(process.memoryUsage.rss()).toBeGreaterThan(200 * 1024 * 1024);
    expect(m.peak_rss_bytes).toBeLessThan(150 * 1024 * 1024);
    // the compression plugin's report goes into the summary instead of a log line of its own
    expect(m.reports.compression.uncompressed).toMatchObject({ chunks: kinds.plain });
    expect(run.stderr.match(/compression: chunks read:/g)).toHaveLength(1);
    expect(run.stderr).toMatch(new RegExp(`^INFO {3}compression: chunks read: ${kinds.plain} uncompressed`, 'm'));

    const file2 = join(dirname(tmpJson({})), 'metrics.json');
    const skip = await runTap(['--config', config({ metrics_file: file2, compressed_chunks: 'skip' }), '--catalog', catalog]);
    expect(skip.code, skip.stderr).toBe(0);
    const s = JSON.parse(readFileSync(file2, 'utf8')).streams['public-items'];
    expect(s.chunks).toMatchObject({ plain: kinds.plain, compressed: 0, partial: 0, skipped: kinds.compressed });
    expect(s.skipped_chunks).toHaveLength(kinds.compressed);
    for (const k of s.skipped_chunks) expect(k.reason).toBe('compressed (compressed_chunks: skip)');
    expect(s.rows).toBe(records(skip.messages, 'public-items').length);
  });

  it('without a terminal: plain progress lines, no escape codes anywhere on stderr', async () => {
    const slow = tmpJson(SLOW_PLUGIN, 'slow-plugin.mjs');
    const run = await runTap(['--config', config({ progress_interval_seconds: 0.1 }), '--catalog', catalog, '--plugin', slow]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('\x1b');
    // lines while the stream runs: chunks done of 11, and an ETA once a chunk is done
    const running = run.stderr
      .split('\n')
      .filter((l) => /^INFO progress public-items: \d+\/11 chunks, \d+ rows, \d+ rows\/s, [\d.]+ k?B, ETA /.test(l));
    expect(running.length).toBeGreaterThan(1);
    expect(running.some((l) => /ETA \d+ s$/.test(l))).toBe(true);
    expect(records(run.messages, 'public-items')).toHaveLength(1001);
    const done = run.stderr.split('\n').filter((l) => l.startsWith('INFO progress public-items: done, '));
    expect(done).toEqual([expect.stringMatching(/done, 11\/11 chunks, 1001 rows, \d+ rows\/s, [\d.]+ kB, ETA 0 s$/)]);
    expect(run.stderr).toMatch(/^INFO progress public-sites: done, no chunks, 30 rows/m);

    const off = await runTap(['--config', config({ progress: 'off' }), '--catalog', catalog]);
    expect(off.stderr).not.toMatch(/^INFO progress /m);
    expect(records(off.messages)).toHaveLength(1031);
    expect(singerPoints(off.stderr).length).toBeGreaterThan(0);
  });

  it('on a terminal (a real pseudo-terminal through script): cli-progress bars, stdout still only Singer messages', async () => {
    const out = join(dirname(tmpJson({})), 'out.jsonl');
    const cmd = `${process.execPath} ${TAP_BIN} --config ${config()} --catalog ${catalog} > ${out}`;
    const tty = await new Promise<{ code: number | null; text: string }>((resolvePromise, reject) => {
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TERM: 'xterm', COLUMNS: '160' },
      });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.stderr.on('data', (b: Buffer) => chunks.push(b));
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code, text: Buffer.concat(chunks).toString('utf8') }));
    });
    expect(tty.code, tty.text).toBe(0);
    // the final render of each bar: the stream, the bar of shades, the figures
    expect(tty.text).toMatch(/public-items \[[\u2588\u2591]+\] 11\/11 chunks \| 1001 rows \| \d+ rows\/s \| [\d.]+ kB \| ETA 0 s/);
    expect(tty.text).toMatch(/public-sites \[[\u2588\u2591]+\] no chunks \| 30 rows/);
    expect(tty.text).toContain('\x1b[');
    expect(tty.text).toMatch(/INFO METRIC: \{"type":"timer","metric":"sync_duration"/);
    const messages = parseMessages(readFileSync(out, 'utf8'));
    expect(records(messages, 'public-items')).toHaveLength(1001);
  });

  it('disable_plugins: ["metrics"] writes no METRIC lines, no progress, no summary; compression logs its own report', async () => {
    const run = await runTap(['--config', config({ disable_plugins: ['metrics'] }), '--catalog', catalog]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/METRIC:/);
    expect(run.stderr).toContain('plugin metrics is turned off by disable_plugins');
    expect(run.stderr).not.toMatch(/^INFO (progress|sync summary)/m);
    expect(run.stderr).toMatch(new RegExp(`^INFO compression: chunks read: ${(await chunkKinds(db, 'items')).plain} uncompressed`, 'm'));
    expect(records(run.messages)).toHaveLength(1031);
  });
});
