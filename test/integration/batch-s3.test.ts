import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchToolsSkip, readParquet } from '../helpers/batch-tools.js';
import { describeOnEngines, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { chunkKinds, createMetricsHypertable, METRICS_COLUMNS, recordsChecksum, sourceChecksum } from '../helpers/hypertable-fixtures.js';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { createBucket, getObject, startMoto, TEST_CREDENTIALS, type MotoServer } from '../helpers/moto-server.js';
import { discover, records, runTap, select, tmpJson, type TapRun } from '../helpers/run-tap.js';
import { startSilentServer, type SilentServer } from '../helpers/silent-server.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

const skip = batchToolsSkip();
const BATCH_TIMES_PLUGIN = resolve(__dirname, '../fixtures/batch-times-plugin.mjs');

function manifestUrls(messages: Record<string, any>[]): string[] {
  return messages.filter((m) => m.type === 'BATCH').flatMap((m) => m.manifest as string[]);
}

/** No BATCH after the last STATE: every uploaded file is covered by a STATE that follows it. */
function expectStateLast(messages: Record<string, any>[]): void {
  const types = messages.map((m) => m.type);
  expect(types.lastIndexOf('STATE')).toBeGreaterThan(types.lastIndexOf('BATCH'));
}

/** The private parent of the staging directories (batch-root.ts): the tap's own, mode 0700. */
const STAGING_BASE = join(tmpdir(), `tap-timescaledb-s3-${process.getuid!()}`);
/** The local staging directory of an s3:// root (batch-settings.ts): empty once every file is uploaded. */
function stagingDir(bucket: string, path: string): string {
  return join(STAGING_BASE, bucket, path.replace(/[^A-Za-z0-9_.-]/g, '_'));
}
function stagingFiles(bucket: string, path: string): string[] {
  const dir = stagingDir(bucket, path);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

describeOnEngines(`BATCH messages on S3-compatible storage (moto)${skip ? ` (${skip})` : ''}`, (engine) => {
  let db: TestDatabase;
  let moto: MotoServer;
  let catalog: Catalog;

  beforeAll(async () => {
    if (skip) return;
    moto = await startMoto();
    await createBucket(moto, 'tap-batches');
    db = await engine.open();
    await createMetricsHypertable(db, 'sensors', 6);
    await db.sql(`ALTER TABLE sensors SET (timescaledb.compress, timescaledb.compress_segmentby = 'device')`);
    await db.sql(`SELECT compress_chunk(c) FROM show_chunks('sensors', older_than => '2024-01-04'::timestamptz) c`);
    catalog = select(await discover(tmpJson({ url: db.url })), { 'public-sensors': {} });
  });
  afterAll(async () => {
    await db?.close();
    await moto?.stop();
  });

  it.skipIf(!!skip)('uploads JSONL.gz files, names them by s3:// URL in BATCH before STATE, equal to the source', async () => {
    const path = `runs/${engine.kind}/jsonl`;
    const batch_config = {
      encoding: { format: 'jsonl', compression: 'gzip' },
      storage: { root: `s3://tap-batches/${path}`, prefix: 'nightly-', endpoint_url: moto.endpoint },
    };
    // what a run killed during an upload leaves in the staging directory, beside a file that is not the tap's
    const staging = stagingDir('tap-batches', `${path}/`);
    mkdirSync(staging, { recursive: true, mode: 0o700 });
    writeFileSync(join(staging, 'nightly-public-sensors-20240101T000000000Z-0badcafe-000001.jsonl.gz'), 'x');
    writeFileSync(join(staging, 'notes.txt'), 'x');
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', tmpJson(catalog)], {
      env: TEST_CREDENTIALS,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(records(run.messages)).toEqual([]);
    const urls = manifestUrls(run.messages);
    expect(urls.length).toBeGreaterThanOrEqual((await chunkKinds(db, 'sensors')).total);
    for (const u of urls) expect(u).toMatch(new RegExp(`^s3://tap-batches/${path}/nightly-public-sensors-.*\\.jsonl\\.gz$`));
    expectStateLast(run.messages);
    const rows = [];
    for (const u of urls) {
      const text = gunzipSync(await getObject(moto, u)).toString('utf8');
      rows.push(
        ...text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
    }
    expect(recordsChecksum(rows, METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
    // uploaded files are removed from the staging directory, and so are the earlier run's leftovers
    expect(stagingFiles('tap-batches', `${path}/`)).toEqual(['notes.txt']);
  });

  it.skipIf(!!skip)('uploads Parquet files (credentials from the config) that pyarrow reads back equal to the source', async () => {
    const path = `runs/${engine.kind}/parquet`;
    const batch_config = {
      encoding: { format: 'parquet', compression: 'none' },
      // credentials and region from the config this time, none in the environment
      storage: {
        root: `s3://tap-batches/${path}`,
        endpoint_url: moto.endpoint,
        region: TEST_CREDENTIALS.AWS_REGION,
        aws_access_key_id: TEST_CREDENTIALS.AWS_ACCESS_KEY_ID,
        aws_secret_access_key: TEST_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      },
    };
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', tmpJson(catalog)], {
      env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_REGION: '', AWS_PROFILE: 'tap-timescaledb-no-such-profile' },
    });
    expect(run.code, run.stderr).toBe(0);
    const urls = manifestUrls(run.messages);
    expect(urls.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'tap-s3-get-'));
    const files = await Promise.all(
      urls.map(async (u, i) => {
        const f = join(dir, `${i}.parquet`);
        writeFileSync(f, await getObject(moto, u));
        return f;
      }),
    );
    const got = await readParquet(files);
    expect(got.types.ts).toBe('timestamp[us, tz=UTC]');
    expect(recordsChecksum(got.rows, METRICS_COLUMNS)).toEqual(await sourceChecksum(db, 'sensors', METRICS_COLUMNS));
  });
});

describe.skipIf(!!nativeSkipReason || !!skip)('BATCH messages on S3: large files and bad input', () => {
  let db: TestDatabase;
  let moto: MotoServer;
  let strict: MotoServer;
  let silent: SilentServer;
  let catalog: string;

  beforeAll(async () => {
    moto = await startMoto();
    // moto with authentication on: keys it does not know are refused with 403
    strict = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '0' });
    silent = await startSilentServer();
    await createBucket(moto, 'tap-batches');
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE logs (id int PRIMARY KEY, line text NOT NULL);
      INSERT INTO logs SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 120000) g`);
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-logs': {} }));
  });
  afterAll(async () => {
    await db?.close();
    await moto?.stop();
    await strict?.stop();
    await silent?.stop();
  });

  it('uploads a file larger than a part (multipart) whole', async () => {
    const batch_config = {
      encoding: { format: 'jsonl', compression: 'none' },
      storage: { root: 's3://tap-batches/big', endpoint_url: moto.endpoint },
    };
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], {
      env: TEST_CREDENTIALS,
    });
    expect(run.code, run.stderr).toBe(0);
    const [url, ...more] = manifestUrls(run.messages);
    expect(more).toEqual([]);
    const body = await getObject(moto, url!);
    // past the 8 MiB part size: lib-storage sent it in parts
    expect(body.length).toBeGreaterThan(8 * 1024 * 1024);
    const ids = body
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).id as number);
    expect(ids.length).toBe(120000);
    expect(new Set(ids).size).toBe(120000);
  });

  const logIds = (body: Buffer) =>
    body
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).id as number);
  const openUploads = async (prefix: string) =>
    ((await moto.client.send(new ListMultipartUploadsCommand({ Bucket: 'tap-batches', Prefix: prefix }))).Uploads ?? []).map((u) => u.Key);
  const isPart = (url = '') => /[?&]partNumber=/.test(url);

  it('retries parts the server refuses now and then (503 SlowDown) and uploads the file whole', async () => {
    let refusals = 0;
    const proxy = await startFaultyProxy(moto.endpoint, { fail: (req) => req.method === 'PUT' && isPart(req.url) && ++refusals <= 3 });
    try {
      const batch_config = {
        encoding: { format: 'jsonl', compression: 'none' },
        storage: { root: 's3://tap-batches/flaky', endpoint_url: proxy.endpoint },
      };
      const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], { env: TEST_CREDENTIALS });
      expect(run.code, run.stderr).toBe(0);
      expect(proxy.refused.length).toBe(3);
      const ids = logIds(await getObject(moto, manifestUrls(run.messages)[0]!));
      expect(ids.length).toBe(120000);
      expect(new Set(ids).size).toBe(120000);
      expect(await openUploads('flaky/')).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a part refused at every attempt fails the run (exit 1) naming the file: no BATCH names it, no upload is left open', async () => {
    const proxy = await startFaultyProxy(moto.endpoint, { fail: (req) => req.method === 'PUT' && isPart(req.url) });
    try {
      const batch_config = {
        encoding: { format: 'jsonl', compression: 'none' },
        storage: { root: 's3://tap-batches/down', endpoint_url: proxy.endpoint },
      };
      const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], { env: TEST_CREDENTIALS });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/CRITICAL.*cannot complete the batch file .*public-logs-.*\.jsonl/);
      // every stderr line is the tap's own one-line log (the SDK's multi-line Node version warning is off)
      expect(run.stderr).not.toMatch(/NodeVersionSupportWarning/);
      expect(manifestUrls(run.messages)).toEqual([]);
      // the SDK's 5 attempts for a part, then lib-storage aborted the upload
      expect(proxy.refused.length).toBeGreaterThanOrEqual(5);
      expect(await openUploads('down/')).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('aborts the multipart uploads a killed run left open for its streams, and no other', async () => {
    const keys = {
      ours: 'left/public-logs-20240101T000000000Z-0badcafe-000001.jsonl',
      otherStream: 'left/public-other-20240101T000000000Z-0badcafe-000001.jsonl',
      notOurs: 'left/public-logs-notes.jsonl',
    };
    for (const Key of Object.values(keys)) await moto.client.send(new CreateMultipartUploadCommand({ Bucket: 'tap-batches', Key }));
    const batch_config = { encoding: { format: 'jsonl' }, storage: { root: 's3://tap-batches/left', endpoint_url: moto.endpoint } };
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], { env: TEST_CREDENTIALS });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/aborted 1 unfinished multipart upload\(s\) an earlier run left: left\/public-logs-20240101T/);
    expect((await openUploads('left/')).sort()).toEqual([keys.notOurs, keys.otherStream]);
    const left = await moto.client.send(new ListMultipartUploadsCommand({ Bucket: 'tap-batches', Prefix: 'left/' }));
    for (const u of left.Uploads ?? [])
      await moto.client.send(new AbortMultipartUploadCommand({ Bucket: 'tap-batches', Key: u.Key, UploadId: u.UploadId }));
  });

  it('reads the next file’s rows while a file uploads, and still writes each BATCH, then its STATE, in order', async () => {
    // every upload of a batch file is answered 700 ms late
    const proxy = await startFaultyProxy(moto.endpoint, {
      delayMs: (req) => (req.method === 'PUT' && /\/slow\/public-logs-/.test(req.url ?? '') ? 700 : 0),
    });
    try {
      const batch_config = {
        encoding: { format: 'jsonl', compression: 'none' },
        storage: { root: 's3://tap-batches/slow', endpoint_url: proxy.endpoint },
        batch_size: 20000,
      };
      const plugins = [{ module: BATCH_TIMES_PLUGIN }];
      const run = await runTap(['--config', tmpJson({ url: db.url, batch_config, plugins }), '--catalog', catalog], {
        env: TEST_CREDENTIALS,
      });
      expect(run.code, run.stderr).toBe(0);
      const urls = manifestUrls(run.messages);
      // a file closes at the first batch boundary past 20,000 rows: 5 or 6 files of the 120,000 rows
      expect(urls.length, run.stderr.slice(-3000)).toBeGreaterThanOrEqual(5);
      expect(proxy.delayed.length).toBe(urls.length);
      const hooks = [...run.stderr.matchAll(/batch-times: (\d+) (\d+)/g)].map((m) => ({ at: Number(m[1]), rows: Number(m[2]) }));
      const firstFile = logIds(await getObject(moto, urls[0]!)).length;
      // rows handed over before the first upload was answered: the first file's, and the next file's too
      // (before, the read waited for each upload to finish)
      const readEarly = hooks.filter((h) => h.at < proxy.delayed[0]!.answered).reduce((n, h) => n + h.rows, 0);
      expect(readEarly, JSON.stringify({ firstFile, delayed: proxy.delayed, hooks })).toBeGreaterThan(firstFile);
      const order = run.messages
        .map((m) => m.type)
        .filter((t) => t === 'BATCH' || t === 'STATE')
        .join(' ');
      expect(order).not.toMatch(/BATCH BATCH/);
      expectStateLast(run.messages);
      const ids = (await Promise.all(urls.map((u) => getObject(moto, u)))).flatMap(logIds);
      expect(new Set(ids).size).toBe(120000);
    } finally {
      await proxy.stop();
    }
  });

  it("stages files in a private directory: the parent 0700 and the tap's own, each staged file 0600 (issue #31)", async () => {
    const proxy = await startFaultyProxy(moto.endpoint, {
      delayMs: (req) => (req.method === 'PUT' && /\/modes\/public-logs-/.test(req.url ?? '') ? 700 : 0),
    });
    try {
      const batch_config = {
        encoding: { format: 'jsonl', compression: 'none' },
        storage: { root: 's3://tap-batches/modes', endpoint_url: proxy.endpoint },
        batch_size: 40000,
      };
      const dir = stagingDir('tap-batches', 'modes/');
      const seen = new Map<string, number>();
      const watch = setInterval(() => {
        for (const name of existsSync(dir) ? readdirSync(dir) : []) {
          try {
            seen.set(name, statSync(join(dir, name)).mode & 0o777);
          } catch {
            /* uploaded and removed meanwhile */
          }
        }
      }, 10);
      const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], { env: TEST_CREDENTIALS });
      clearInterval(watch);
      expect(run.code, run.stderr).toBe(0);
      expect(manifestUrls(run.messages).length).toBe(3);
      expect(seen.size, [...seen.keys()].join(', ')).toBeGreaterThan(0);
      for (const [name, mode] of seen) expect(`${name} ${mode.toString(8)}`).toBe(`${name} 600`);
      const base = statSync(STAGING_BASE);
      expect(base.mode & 0o777).toBe(0o700);
      expect(base.uid).toBe(process.getuid!());
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      await proxy.stop();
    }
  });

  describe('a staging parent the tap did not make is refused: exit 2 before any message, nothing staged in it', () => {
    // a TMPDIR of the test's own (sticky and world-writable, like /tmp), so other runs on this machine are not disturbed
    const sharedTmp = (): string => {
      const d = mkdtempSync(join(tmpdir(), 'tap-shared-tmp-'));
      chmodSync(d, 0o1777);
      return d;
    };
    const runWithTmp = (tmp: string) =>
      runTap(
        [
          '--config',
          tmpJson({
            url: db.url,
            batch_config: { encoding: { format: 'jsonl' }, storage: { root: 's3://tap-batches/x', endpoint_url: moto.endpoint } },
          }),
          '--catalog',
          catalog,
        ],
        { env: { ...TEST_CREDENTIALS, TMPDIR: tmp } },
      );
    const base = (tmp: string) => join(tmp, `tap-timescaledb-s3-${process.getuid!()}`);
    const expectRefused = (run: TapRun, why: RegExp, dir: string) => {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(why);
      expect(run.stderr).toMatch(/remove it \(the tap makes it again, mode 700\), or set TMPDIR to a directory of your own/);
      expect(readdirSync(dir)).toEqual([]);
    };

    it.skipIf(process.getuid!() !== 0)('one another local user created beforehand (world-writable, as an attacker would)', async () => {
      const other = 'tapstaging';
      if (spawnSync('id', [other]).status !== 0) expect(spawnSync('useradd', ['--no-create-home', other]).status).toBe(0);
      const tmp = sharedTmp();
      const dir = base(tmp);
      // made by the other user, as they would in /tmp before the tap's first run
      expect(spawnSync('su', [other, '-s', '/bin/sh', '-c', `mkdir -m 777 ${dir}`]).status).toBe(0);
      const run = await runWithTmp(tmp);
      expectRefused(run, /the staging directory .* of the s3:\/\/ root belongs to another user \(uid \d+, the tap runs as 0\)/, dir);
    });

    it("one of the tap's user that others may enter (mode 755)", async () => {
      const tmp = sharedTmp();
      const dir = base(tmp);
      mkdirSync(dir, { mode: 0o755 });
      chmodSync(dir, 0o755);
      expectRefused(await runWithTmp(tmp), /may be used by other users \(mode 755, not 700\)/, dir);
    });

    it('a symbolic link to another directory', async () => {
      const tmp = sharedTmp();
      const target = mkdtempSync(join(tmpdir(), 'tap-link-target-'));
      chmodSync(target, 0o700);
      symlinkSync(target, base(tmp));
      expectRefused(await runWithTmp(tmp), /is a symbolic link/, target);
    });
  });

  const bad = (storage: () => Record<string, unknown>, env: Record<string, string> = TEST_CREDENTIALS) => ({ storage, env });
  it.each([
    {
      what: 'a missing bucket',
      ...bad(() => ({ root: 's3://no-such-bucket/x', endpoint_url: moto.endpoint })),
      says: /s3:\/\/no-such-bucket\/x\/: cannot write \(the bucket no-such-bucket does not exist; create it/,
    },
    {
      what: 'refused credentials (from the environment)',
      ...bad(() => ({ root: 's3://tap-batches/x', endpoint_url: strict.endpoint })),
      says: /cannot write \(the credentials were refused; set AWS_ACCESS_KEY_ID/,
    },
    {
      what: 'refused credentials (from the config)',
      ...bad(
        () => ({ root: 's3://tap-batches/x', endpoint_url: strict.endpoint, aws_access_key_id: 'AKIDBAD', aws_secret_access_key: 'nope' }),
        {},
      ),
      says: /the credentials were refused/,
    },
    { what: 'an s3:// root without a bucket', ...bad(() => ({ root: 's3:///path' })), says: /names no bucket; give s3:\/\/bucket\/path/ },
    {
      what: "a prefix with '../' (the key lost it)",
      ...bad(() => ({ root: 's3://tap-batches/x', prefix: '../y-', endpoint_url: moto.endpoint })),
      says: /batch_config\.storage\.prefix "\.\.\/y-" may not hold/,
    },
    {
      what: "a root path with a '..' segment spelled %2F..%2F",
      ...bad(() => ({ root: 's3://tap-batches/x%2F..%2Fy', endpoint_url: moto.endpoint })),
      says: /its path may not hold '\.' or '\.\.' segments/,
    },
    {
      what: 'an endpoint that accepts and never answers (TAP_BATCH_ROOT_TIMEOUT_MS=1500)',
      ...bad(() => ({ root: 's3://tap-batches/x', endpoint_url: silent.endpoint }), {
        ...TEST_CREDENTIALS,
        TAP_BATCH_ROOT_TIMEOUT_MS: '1500',
      }),
      says: /s3:\/\/tap-batches\/x\/: no answer within 1\.5 s from http:\/\/127\.0\.0\.1:\d+; check batch_config\.storage\.endpoint_url/,
    },
  ])('stops with exit 2 before any message on $what', async ({ storage, env, says }) => {
    const batch_config = { encoding: { format: 'jsonl' }, storage: storage() };
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog], { env, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/CRITICAL/);
    expect(run.stderr).toMatch(says);
  });
});
