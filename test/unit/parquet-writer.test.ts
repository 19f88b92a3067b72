import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { ParquetWriter } from '../../src/core/batch/parquet-writer.js';
import type { ParquetColumn } from '../../src/core/batch/parquet-columns.js';

const columns: ParquetColumn[] = [
  { name: 'id', kind: 'int64' },
  { name: 'ts', kind: 'timestamp' },
  { name: 'v', kind: 'double' },
  { name: 'day', kind: 'date' },
  { name: 'note', kind: 'string' },
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
