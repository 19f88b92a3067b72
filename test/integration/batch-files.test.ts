import { chmodSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnEngines, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { batchLines, batchRoot, dirFiles, fileLines, manifestFiles, recordText } from '../helpers/batch-files.js';
import {
  chunkKinds,
  createMetricsHypertable,
  METRICS_COLUMNS,
  recordsChecksum,
  sourceChecksum,
  sourceNotes,
} from '../helpers/hypertable-fixtures.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { createTypesTable, expectedRecordFields, rawRecordFields, type TypeCase } from '../helpers/type-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/** The RECORD lines of a run's stdout, as text. */
function recordLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('{"type":"RECORD"'));
}

/** Every BATCH is followed by a STATE before the next BATCH, and a STATE never comes while a file is open. */
/**
 * STATE follows the BATCH messages it covers. Two BATCH messages may come without a STATE between them
 * only where the bookmark did not move (inside a chunk read without key order): a STATE equal to the
 * last one is not written again. The files' durability before each STATE is the kill-resume test's.
 */
/** Returns how many runs of BATCH messages a STATE closed. */
function expectStateAfterEveryBatch(messages: Record<string, any>[]): number {
  let open = false;
  let runs = 0;
  for (const m of messages) {
    if (m.type === 'BATCH') {
      if (!open) runs++;
      open = true;
    } else if (m.type === 'STATE') open = false;
  }
  expect(open, 'the last BATCH is not followed by STATE').toBe(false);
  return runs;
}

describeOnEngines('BATCH messages: JSONL files of a hypertable with compressed chunks', (engine) => {
  let db: TestDatabase;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await engine.open();
    await createMetricsHypertable(db, 'sensors', 12);
    await db.sql(
      `ALTER TABLE sensors SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'ts DESC')`,
    );
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('sensors', older_than => '2024-01-07'::timestamptz) c`);
    await db.sql(`INSERT INTO sensors VALUES ('2024-01-02 12:30+00', 1, 0, 'after-compression-1')`);
    catalog = select(await discover(tmpJson({ url: db.url })), { 'public-sensors': {} });
  });
  afterAll(async () => db?.close());

  it.each(['gzip', 'none'] as const)(
    'writes one file per chunk at least (%s), holding the RECORD path’s records byte for byte, equal to the source',
    async (compression) => {
      const kinds = await chunkKinds(db, 'sensors');
      expect(kinds.compressed).toBeGreaterThan(0);
      const plain = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', tmpJson(catalog)]);
      expect(plain.code, plain.stderr).toBe(0);

      const { dir, batch_config } = batchRoot(compression);
      const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', tmpJson(catalog)]);
      expect(run.code, run.stderr).toBe(0);
      const messages = run.messages;
      expect(records(messages)).toEqual([]);
      const batches = messages.filter((m) => m.type === 'BATCH');
      expect(batches.length).toBeGreaterThanOrEqual(kinds.total);
      for (const b of batches) expect(b).toMatchObject({ stream: 'public-sensors', encoding: { format: 'jsonl', compression } });
      expectStateAfterEveryBatch(messages);
      // SCHEMA before the first BATCH, ACTIVATE_VERSION after the last
      const types = messages.map((m) => m.type);
      expect(types.indexOf('SCHEMA')).toBeLessThan(types.indexOf('BATCH'));
      expect(types.lastIndexOf('ACTIVATE_VERSION')).toBeGreaterThan(types.lastIndexOf('BATCH'));

      const files = manifestFiles(messages);
      for (const f of files) expect(f.endsWith(compression === 'gzip' ? '.jsonl.gz' : '.jsonl'), f).toBe(true);
      expect(dirFiles(dir)).toEqual({ complete: [...files].sort(), partial: [] });
      const lines = batchLines(messages);
      expect([...lines].sort()).toEqual(recordLines(plain.stdout).map(recordText).sort());
      const rows = lines.map((l) => JSON.parse(l));
      expect(recordsChecksum(rows, METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
    },
  );

  it('closes a file at the first batch boundary past batch_size rows as well', async () => {
    // batches hold at most state_every_n_rows rows and are never split: a file holds < batch_size + state_every_n_rows rows
    const { batch_config } = batchRoot('gzip', { batch_size: 25 });
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config, state_every_n_rows: 10 }), '--catalog', tmpJson(catalog)]);
    expect(run.code, run.stderr).toBe(0);
    const sizes = manifestFiles(run.messages).map((f) => fileLines(f).length);
    expect(Math.max(...sizes)).toBeLessThan(35);
    // chunks hold ~48 rows: two files or more for most
    expect(sizes.length).toBeGreaterThan((await chunkKinds(db, 'sensors')).total);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe((await sourceNotes(db, 'sensors')).length);
    // each chunk's end moves the bookmark: a STATE after every chunk's files at least
    expect(expectStateAfterEveryBatch(run.messages)).toBeGreaterThanOrEqual((await chunkKinds(db, 'sensors')).total);
  });

  it('kill -9 during a batched sync, then resume: every row is in a file named before the last STATE or written by the resumed run', async () => {
    const { dir, batch_config } = batchRoot('gzip', { batch_size: 20 });
    const config = tmpJson({ url: db.url, batch_config });
    const cat = tmpJson(catalog);
    let seen = 0;
    const killed = await runTapUntilKilled(['--config', config, '--catalog', cat], (m) => m.type === 'BATCH' && ++seen === 7);
    expect(killed.killed).toBe(true);
    const state = lastState(killed.messages)!;
    const upToState = killed.messages.slice(0, killed.messages.findLastIndex((m) => m.type === 'STATE') + 1);
    expect(manifestFiles(upToState).length).toBeGreaterThan(3);
    const named = manifestFiles(killed.messages);
    // a file is named only once complete: each one named exists under its final name and parses whole
    for (const f of named) for (const l of fileLines(f)) JSON.parse(l);
    expect(named.some((f) => f.endsWith('.part'))).toBe(false);
    // the kill may or may not catch a file open: an earlier run's leftover of this stream is planted as well,
    // beside files that are not this tap's (another prefix, another stream, a name of the user's own)
    const planted = join(dir, 'public-sensors-20240101T000000000Z-0badcafe-000001.jsonl.gz.part');
    const foreign = ['other-public-sensors-20240101T000000000Z-0badcafe-000001.jsonl.gz.part', 'public-sensors-mine.part'];
    for (const f of [planted, ...foreign.map((n) => join(dir, n))]) writeFileSync(f, 'half a line');
    const resumed = await runTap(['--config', config, '--catalog', cat, '--state', tmpJson(state)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const notes = new Set([...batchLines(upToState), ...batchLines(resumed.messages)].map((l) => JSON.parse(l).note as string));
    expect([...notes].sort()).toEqual(await sourceNotes(db, 'sensors'));
    // the resumed run read again the chunk the kill interrupted: it starts with a file of its own
    expect(manifestFiles(resumed.messages).length).toBeGreaterThan(0);
    // the resumed run removed this tap's unfinished files of the stream, and only those
    expect([...dirFiles(dir).partial].sort()).toEqual(foreign.map((n) => join(dir, n)).sort());
    expect(resumed.stderr).toMatch(/removed \d+ unfinished batch file/);
  });
});

describe.skipIf(!!nativeSkipReason)('BATCH messages: the every-type table and bad batch_config', () => {
  let db: TestDatabase;
  let cases: TypeCase[];
  let catalog: string;

  beforeAll(async () => {
    db = await nativeDatabase();
    cases = await createTypesTable(db, 'every_type');
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-every_type': {} }));
  });
  afterAll(async () => db?.close());

  it('holds every type exactly as the RECORD line would', async () => {
    const plain = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', catalog]);
    expect(plain.code, plain.stderr).toBe(0);
    const { batch_config } = batchRoot('gzip');
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    // the transcoder writes the records alone for a JSONL file: nothing is cut out of RECORD lines
    expect(run.stderr).toMatch(/DEBUG.*public-every_type: rows go to the batch files as records, with no RECORD line around them/);
    const lines = batchLines(run.messages);
    expect(lines).toEqual(recordLines(plain.stdout).map(recordText));
    expect(lines.map((l) => rawRecordFields(`{"record":${l}}`))).toEqual(([1, 2, 3] as const).map((id) => expectedRecordFields(cases, id)));
  });

  const badRoot = (): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'tap-batch-bad-')), 'a-file');
    writeFileSync(file, '');
    return pathToFileURL(join(file, 'below')).href;
  };
  const readOnly = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'tap-batch-ro-'));
    chmodSync(d, 0o500);
    return pathToFileURL(d).href;
  };
  it.each([
    {
      what: 'an unknown format',
      bc: () => ({ encoding: { format: 'csv' }, storage: { root: 'file:///tmp' } }),
      says: /batch_config\.encoding\.format must be equal to one of the allowed values \(jsonl/,
    },
    {
      what: 'an unknown compression',
      bc: () => ({ encoding: { format: 'jsonl', compression: 'zstd' }, storage: { root: 'file:///tmp' } }),
      says: /batch_config\.encoding\.compression .*\(gzip\|none\)/,
    },
    {
      what: 'a root under a regular file',
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: badRoot() } }),
      says: /batch_config\.storage\.root .* is not writable .*give a directory/,
    },
    ...(process.getuid?.() === 0
      ? []
      : [
          {
            what: 'a read-only root',
            bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: readOnly() } }),
            says: /is not writable/,
          },
        ]),
    {
      what: 'a root that is not a URL',
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: '/tmp/x' } }),
      says: /is not a URL; give file:\/\/\/absolute\/dir/,
    },
    {
      what: 'a root of another scheme',
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: 'ftp://host/prefix' } }),
      says: /only file:\/\/ and s3:\/\/ roots are supported/,
    },
    { what: 'no storage', bc: () => ({ encoding: { format: 'jsonl' } }), says: /batch_config must have required property 'storage'/ },
    // issue #31: a prefix may not leave the root, a file: root must be absolute, a check of the root may not hang
    ...['../escaped-', 'sub/dir-', '..', 'a\\b-'].map((prefix) => ({
      what: `the prefix ${JSON.stringify(prefix)}`,
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: pathToFileURL(batchRoot().dir).href, prefix } }),
      says: /batch_config\.storage\.prefix .* may not hold '\/', '\\' or '\.\.': it is put before each file name, inside the root; give a name part such as "nightly-"/,
    })),
    // the input fuzz test found it: a long prefix failed the first file's open after the SCHEMA (ENAMETOOLONG, exit 1)
    ...[200, 200_000].map((n) => ({
      what: `a prefix of ${n} bytes (file names past 255 bytes)`,
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: pathToFileURL(batchRoot().dir).href, prefix: 'x'.repeat(n) } }),
      // <prefix>public-every_type-<run id, 28>-000001.jsonl.gz.part: the prefix and 67 bytes
      says: new RegExp(
        `batch_config\\.storage\\.prefix makes the file names of stream public-every_type ${n + 67} bytes long, over the 255 bytes file systems take: shorten the prefix by at least ${n + 67 - 255} bytes`,
      ),
    })),
    ...['file:relative/dir', 'file://relative/dir', 'file:/absolute/dir'].map((root) => ({
      what: `the root ${root}`,
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root } }),
      says: /batch_config\.storage\.root file:.* is not an absolute file URL: give file:\/\/\/ and the absolute path \(file:\/\/\/.*(relative|absolute)\/dir/,
    })),
    {
      what: "a root under /proc (Node's recursive mkdir spun there forever)",
      bc: () => ({ encoding: { format: 'jsonl' }, storage: { root: 'file:///proc/tap-batches/x' } }),
      says: /batch_config\.storage\.root \/proc\/tap-batches\/x is not writable \(ENOENT.*give a directory the tap can create files in/,
    },
  ])('stops with exit 2 before any message on $what', async ({ bc, says }) => {
    const started = Date.now();
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config: bc() }), '--catalog', catalog], { timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/CRITICAL/);
    expect(run.stderr).toMatch(says);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a prefix that makes file names 255 bytes long, the most file systems take, writes its files', async () => {
    const { dir } = batchRoot();
    const prefix = 'x'.repeat(255 - 67);
    const batch_config = { encoding: { format: 'jsonl' }, storage: { root: pathToFileURL(dir).href, prefix } };
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog]);
    expect(run.code, run.stderr).toBe(0);
    const files = manifestFiles(run.messages);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(Buffer.byteLength(`${basename(f)}.part`)).toBe(255);
  });

  it('a bad prefix stops --discover too, before connecting; nothing is written beside the root', async () => {
    const { dir } = batchRoot();
    const root = join(dir, 'root');
    const run = await runTap([
      '--config',
      tmpJson({
        url: 'postgres://nobody@127.0.0.1:1/none',
        batch_config: { encoding: { format: 'jsonl' }, storage: { root: pathToFileURL(root).href, prefix: '../x-' } },
      }),
      '--discover',
    ]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/batch_config\.storage\.prefix "\.\.\/x-" may not hold/);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync('/relative')).toBe(false);
  });

  it('--about lists the batch capability and the batch_config setting', async () => {
    const about = JSON.parse((await runTap(['--about'])).stdout);
    expect(about.capabilities).toContain('batch');
    expect(about.settings.properties.batch_config.properties.encoding.properties.compression.enum).toEqual(['gzip', 'none']);
    expect(about.settings.properties.batch_config.properties.encoding.properties.format.enum).toEqual(['jsonl', 'parquet']);
    expect(Object.keys(about.settings.properties.batch_config.properties.storage.properties)).toEqual(
      expect.arrayContaining(['root', 'prefix', 'endpoint_url', 'region', 'aws_access_key_id', 'aws_secret_access_key']),
    );
  });
});
