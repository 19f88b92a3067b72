import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipParquetPages } from '../../src/core/batch/parquet-gzip-pages.js';
import { CompactReader, CompactWriter } from '../../src/core/batch/thrift-compact.js';
import { firstPage } from '../helpers/parquet-pages.js';

/**
 * The rewrite that gzips an uncompressed Parquet file's pages at zlib's level 1: DuckDB reads the result
 * back equal to the source, the footer names GZIP, and each page is a level-1 gzip member.
 */
describe('gzipParquetPages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parquet-gzip-pages-'));
  const raw = join(dir, 'raw.parquet');
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  const rows = async (sql: string): Promise<Record<string, unknown>[]> => (await conn.runAndReadAll(sql)).getRowObjects();

  beforeAll(async () => {
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
    // several row groups; dictionary pages (few distinct strings), nulls, exact decimals, JSON, timestamps
    await conn.run(`COPY (SELECT i::BIGINT AS id, 'device ' || (i % 7) AS name, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 0.25 END AS value,
        (i * 123456789.123456789)::DECIMAL(38, 9) AS amount, ('{"n":' || i || '}')::JSON AS doc,
        TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND AS ts
        FROM range(100000) t(i)) TO '${raw}' (FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE 30720)`);
  });
  afterAll(() => {
    conn?.closeSync();
    db?.closeSync();
  });

  it('writes GZIP pages that read back equal to the uncompressed file, smaller', async () => {
    const out = join(dir, 'gzip.parquet');
    await gzipParquetPages(raw, out);
    const [diff] = await rows(
      `SELECT (SELECT count(*) FROM (SELECT * FROM '${raw}' EXCEPT ALL SELECT * FROM '${out}'))
            + (SELECT count(*) FROM (SELECT * FROM '${out}' EXCEPT ALL SELECT * FROM '${raw}')) AS n,
              (SELECT count(*) FROM '${out}') AS total`,
    );
    expect(diff).toEqual({ n: 0n, total: 100000n });
    const codecs = await rows(`SELECT DISTINCT compression FROM parquet_metadata('${out}')`);
    expect(codecs).toEqual([{ compression: 'GZIP' }]);
    const groups = await rows(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${out}')`);
    expect(groups[0]!.n).toBe(4n);
    expect(readFileSync(out).length).toBeLessThan(readFileSync(raw).length / 2);
  });

  it('each page is a gzip member at the fastest level (XFL 4), as zlib writes level 1', async () => {
    const out = join(dir, 'first-page.parquet');
    await gzipParquetPages(raw, out);
    const { uncompressed, body } = firstPage(out);
    expect([body[0], body[1], body[2]]).toEqual([0x1f, 0x8b, 8]);
    expect(body[8]).toBe(4);
    expect(gunzipSync(body).length).toBe(uncompressed);
  });

  it("the Thrift reader and writer give back a footer's bytes unchanged", () => {
    const file = readFileSync(raw);
    const length = file.readUInt32LE(file.length - 8);
    const footer = file.subarray(file.length - 8 - length, file.length - 8);
    const w = new CompactWriter();
    w.struct(new CompactReader(footer).struct());
    expect(w.bytes().equals(footer)).toBe(true);
  });

  it('refuses a file that is not Parquet, or whose pages are already compressed, naming the problem', async () => {
    const text = join(dir, 'not.parquet');
    writeFileSync(text, 'a,b\n1,2\n');
    await expect(gzipParquetPages(text, join(dir, 'x1.parquet'))).rejects.toThrow(/is not a Parquet file/);
    const snappy = join(dir, 'snappy.parquet');
    await conn.run(`COPY (SELECT * FROM '${raw}') TO '${snappy}' (FORMAT parquet, COMPRESSION snappy)`);
    await expect(gzipParquetPages(snappy, join(dir, 'x2.parquet'))).rejects.toThrow(/codec 1, not UNCOMPRESSED/);
  });
});
