import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { batchRoot, manifestFiles, recordText } from '../helpers/batch-files.js';
import { BATCH_TOOLS, batchToolsSkip } from '../helpers/batch-tools.js';
import { discover, runTap, select, TAP_BIN, tmpJson } from '../helpers/run-tap.js';

const exec = promisify(execFile);
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/**
 * The members of a gzip file, counted by Python's zlib (each decompressor stops at a member's end and
 * hands back the rest), and the sha256 and length of what Python's gzip module reads from it: singer-sdk
 * reads BATCH files with that module.
 */
const PY_MEMBERS = `
import gzip, hashlib, json, sys, zlib
data = open(sys.argv[1], 'rb').read()
sizes, lines, rest = [], True, data
while rest:
    d = zlib.decompressobj(31)
    out = d.decompress(rest)
    if not d.eof:
        sys.exit('a member ends before its trailer')
    sizes.append(len(out))
    lines = lines and out.endswith(b'\\n')
    rest = d.unused_data
whole = gzip.open(sys.argv[1]).read()
print(json.dumps({'members': len(sizes), 'sizes': sizes, 'lines': lines, 'sha256': hashlib.sha256(whole).hexdigest(), 'length': len(whole)}))
`;

const skip = nativeSkipReason ?? batchToolsSkip();

describe.skipIf(!!skip)('BATCH jsonl gzip: a file of several members, compressed apart', () => {
  let db: TestDatabase;
  let catalog: string;

  beforeAll(async () => {
    db = await nativeDatabase();
    // ~90 bytes a record, 80,000 rows: ~7 MB of JSONL in one file (batch_size is 1M rows by default)
    await db.sql(`CREATE TABLE readings AS
      SELECT i AS id, md5(i::text) AS tag, '2024-01-01'::timestamptz + i * interval '1 second' AS ts, (i % 977) * 0.5 AS value
      FROM generate_series(1, 80000) i`);
    catalog = tmpJson(select(await discover(tmpJson({ url: db.url })), { 'public-readings': {} }));
  });
  afterAll(async () => db?.close());

  it('holds a member per batch of whole records (at most 1 MiB), which Python’s gzip, gzip -d and zlib read back byte for byte as the RECORD path’s records', async () => {
    const plain = await runTap(['--config', tmpJson({ url: db.url }), '--catalog', catalog]);
    expect(plain.code, plain.stderr).toBe(0);
    const expected = Buffer.from(
      plain.stdout
        .split('\n')
        .filter((l) => l.startsWith('{"type":"RECORD"'))
        .map((l) => `${recordText(l)}\n`)
        .join(''),
    );
    expect(expected.length).toBeGreaterThan(5 * 1024 * 1024);

    const { batch_config } = batchRoot('gzip');
    const run = await runTap(['--config', tmpJson({ url: db.url, batch_config }), '--catalog', catalog]);
    expect(run.code, run.stderr).toBe(0);
    const [file, ...more] = manifestFiles(run.messages);
    expect(more).toEqual([]);

    const py = JSON.parse((await exec(BATCH_TOOLS.python, ['-c', PY_MEMBERS, file!])).stdout) as Record<string, unknown>;
    // one zlib stream wrote one member; each batch of the transcoder (its 1 MiB buffer, taken when the next
    // row's JSON might not fit: ~0.91 MiB here) makes one, of whole records
    const sizes = py.sizes as number[];
    expect(py.members).toBeGreaterThanOrEqual(Math.ceil(expected.length / (1024 * 1024)));
    for (const size of sizes) expect(size).toBeLessThanOrEqual(1024 * 1024);
    for (const size of sizes.slice(0, -1)) expect(size).toBeGreaterThan(768 * 1024);
    expect(py).toMatchObject({ lines: true, sha256: sha256(expected), length: expected.length });
    const gzipD = await exec('gzip', ['-dc', file!], { encoding: 'buffer', maxBuffer: 1 << 28 });
    expect(sha256(gzipD.stdout)).toBe(sha256(expected));
    expect(sha256(gunzipSync(readFileSync(file!)))).toBe(sha256(expected));
  });

  it('a write the disk refuses (past the file size limit) stops the run with the file named and leaves no file behind', async () => {
    const { dir, batch_config } = batchRoot('gzip');
    const config = tmpJson({ url: db.url, batch_config });
    // ulimit -f counts 1 KiB blocks: the gzip file (~3 MB) passes 512 KiB; node gets EFBIG, not SIGXFSZ
    const run = await exec('bash', [
      '-c',
      `ulimit -f 512; exec "${process.execPath}" "${TAP_BIN}" --config ${config} --catalog ${catalog}`,
    ]).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/CRITICAL cannot write the batch file \S+\/public-readings-\S+\.jsonl\.gz: EFBIG: file too large/);
    expect(run.stderr).not.toMatch(/unhandled|\n\s+at /i);
    expect(run.stdout).not.toMatch(/"type":"BATCH"/);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
