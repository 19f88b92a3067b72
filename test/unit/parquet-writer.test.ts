import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParquetWriter } from '../../src/core/batch/parquet-writer.js';
import type { ParquetColumn } from '../../src/core/batch/parquet-columns.js';

const columns: ParquetColumn[] = [
  { name: 'id', kind: 'int64', source: 'integer' },
  { name: 'ts', kind: 'timestamp', source: 'timestamptz' },
  { name: 'v', kind: 'double', source: 'number' },
  { name: 'day', kind: 'date', source: 'date' },
  { name: 'note', kind: 'string', source: 'string' },
];

/** DuckDB, a reader other than pyarrow, over the files the tap's writer made. */
async function query(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('ParquetWriter', () => {
  it.each(['gzip', 'none'] as const)(
    'writes row groups (%s) that DuckDB reads, with min/max and null-count statistics per row group',
    async (compression) => {
      const path = join(mkdtempSync(join(tmpdir(), 'parquet-writer-')), 'out.parquet');
      const writer = ParquetWriter.create(path, columns, { compression, recordPrefix: 0, rowGroupRows: 100, rowGroupBytes: 1 << 20 });
      const lines: string[] = [];
      for (let i = 0; i < 250; i++) {
        const ts = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString();
        const note = i % 50 === 0 ? null : JSON.stringify(`n${i}\t"é"`);
        lines.push(`{"id":${i - 100},"ts":"${ts}","v":${i / 8},"day":"${ts.slice(0, 10)}","note":${note}}`);
      }
      writer.write(Buffer.from(lines.join('\n') + '\n'));
      writer.finish();
      const rows = await query(`SELECT id, epoch_ms(ts) AS ms, v, day::VARCHAR AS day, note FROM read_parquet('${path}') ORDER BY id`);
      expect(rows).toHaveLength(250);
      rows.forEach((r, i) => {
        expect(r).toEqual({
          id: String(i - 100),
          ms: String(Date.UTC(2024, 0, 1) + i * 60_000),
          v: i / 8,
          day: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().slice(0, 10),
          note: i % 50 === 0 ? null : `n${i}\t"é"`,
        });
      });
      const meta = await query(
        `SELECT row_group_id, path_in_schema AS col, stats_min_value, stats_max_value, stats_null_count, compression FROM parquet_metadata('${path}') ORDER BY row_group_id, column_id`,
      );
      expect(new Set(meta.map((m) => m.compression))).toEqual(new Set([compression === 'gzip' ? 'GZIP' : 'UNCOMPRESSED']));
      const ids = meta.filter((m) => m.col === 'id');
      expect(ids.map((m) => [m.stats_min_value, m.stats_max_value])).toEqual([
        ['-100', '-1'],
        ['0', '99'],
        ['100', '149'],
      ]);
      expect(meta.filter((m) => m.col === 'note').map((m) => m.stats_null_count)).toEqual(['2', '2', '1']);
    },
  );
});

describe('ParquetWriter, gzip on pages it cannot shrink', () => {
  it('stores the pages of random doubles for 15 row groups after one that level 1 left at 90% or more, then tries again', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'parquet-writer-stored-')), 'out.parquet');
    const cols: ParquetColumn[] = [
      { name: 'i', kind: 'int64', source: 'integer' },
      { name: 'd', kind: 'double', source: 'number' },
    ];
    const writer = ParquetWriter.create(path, cols, { compression: 'gzip', recordPrefix: 0, rowGroupRows: 200, rowGroupBytes: 1 << 20 });
    const values = Array.from({ length: 40 * 200 }, () => Math.random() * 1e6);
    writer.write(Buffer.from(values.map((d, i) => `{"i":${i},"d":${d}}\n`).join('')));
    writer.finish();
    const got = await query(`SELECT i::INTEGER AS i, d FROM read_parquet('${path}') ORDER BY i`);
    expect(got.map((r) => r.d)).toEqual(values);
    const chunks = await query(
      `SELECT row_group_id::INTEGER AS g, path_in_schema AS col, total_compressed_size::INTEGER AS packed, total_uncompressed_size::INTEGER AS size FROM parquet_metadata('${path}') ORDER BY g`,
    );
    // stored deflate blocks are a little larger than the page; level 1 makes it smaller, if only by a few percent
    const stored = chunks.filter((c) => c.col === 'd').map((c) => (c.packed as number) > (c.size as number));
    expect(stored).toEqual(Array.from({ length: 40 }, (_, g) => g % 16 !== 0));
    for (const c of chunks.filter((c) => c.col === 'i')) expect(c.packed as number).toBeLessThan((c.size as number) / 2);
  });
});

describe('ParquetWriter on generated records', () => {
  const typed: ParquetColumn[] = [
    { name: 'i', kind: 'int64', source: 'integer' },
    { name: 'd', kind: 'double', source: 'number' },
    { name: 's', kind: 'string', source: 'string' },
    { name: 'j', kind: 'json', source: 'json' },
    { name: 't', kind: 'timestamp', source: 'timestamptz' },
    { name: 'day', kind: 'date', source: 'date' },
    { name: 'b', kind: 'boolean', source: 'boolean' },
    { name: 'n', kind: 'decimal', source: 'number', precision: 30, scale: 10 },
  ];
  const row = fc.record({
    i: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    d: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })),
    s: fc.option(fc.string({ unit: 'binary' })),
    j: fc.option(fc.jsonValue()),
    t: fc.option(
      fc.tuple(
        fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999 }),
      ),
    ),
    b: fc.option(fc.boolean()),
    n: fc.option(fc.bigInt({ min: -(10n ** 30n) + 1n, max: 10n ** 30n - 1n })),
  });
  const decimalText = (v: bigint) => {
    const digits = (v < 0n ? -v : v).toString().padStart(11, '0');
    return `${v < 0n ? '-' : ''}${digits.slice(0, -10)}.${digits.slice(-10)}`;
  };

  it('holds every value DuckDB reads back, whatever the records', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 9 }), async (rows, groupRows) => {
        const path = join(mkdtempSync(join(tmpdir(), 'parquet-writer-gen-')), 'out.parquet');
        const writer = ParquetWriter.create(path, typed, {
          compression: 'gzip',
          recordPrefix: 0,
          rowGroupRows: groupRows,
          rowGroupBytes: 1 << 20,
        });
        const lines = rows.map((r, k) => {
          const day = r.t ? r.t[0].toISOString().slice(0, 10) : null;
          const ts = r.t ? `"${r.t[0].toISOString().slice(0, 23)}${String(r.t[1]).padStart(3, '0')}Z"` : 'null';
          // the properties in another order on odd lines, as a record transform may write them
          const parts = [
            `"i":${r.i ?? 'null'}`,
            // PostgreSQL prints a negative zero as -0, which String() does not
            `"d":${r.d === null ? 'null' : Object.is(r.d, -0) ? '-0' : String(r.d)}`,
            `"s":${JSON.stringify(r.s)}`,
            `"j":${r.j === null ? 'null' : JSON.stringify(r.j)}`,
            `"t":${ts}`,
            `"day":${day ? `"${day}"` : 'null'}`,
            `"b":${r.b ?? 'null'}`,
            `"n":${r.n === null ? 'null' : decimalText(r.n)}`,
          ];
          return `{${(k % 2 ? parts.reverse() : parts).join(',')}}`;
        });
        writer.write(Buffer.from(lines.join('\n') + '\n'));
        writer.finish();
        const got = await query(
          // strings as hex: DuckDB's Node API drops a leading BOM when it makes a JS string of one
          `SELECT i::VARCHAR AS i, d, hex(encode(s)) AS s, hex(encode(j::VARCHAR)) AS j, epoch_us(t)::VARCHAR AS t, day::VARCHAR AS day, b, n::VARCHAR AS n FROM read_parquet('${path}')`,
        );
        expect(got).toEqual(
          rows.map((r) => ({
            i: r.i === null ? null : String(r.i),
            d: r.d,
            s: r.s === null ? null : Buffer.from(r.s).toString('hex').toUpperCase(),
            j: r.j === null ? null : Buffer.from(JSON.stringify(r.j)).toString('hex').toUpperCase(),
            t: r.t ? String(BigInt(r.t[0].getTime()) * 1000n + BigInt(r.t[1])) : null,
            day: r.t ? r.t[0].toISOString().slice(0, 10) : null,
            b: r.b,
            n: r.n === null ? null : decimalText(r.n),
          })),
        );
      }),
      { numRuns: 40 },
    );
  });
});
