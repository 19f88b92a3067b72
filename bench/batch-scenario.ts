import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { tapContender, tapFiles, tapStage, type Contender, type Target } from './contenders.js';
import { runPipeline } from './measure.js';
import type { ResultRow } from './report.js';
import { alternate, type Log } from './scenarios.js';

type Encoding = { format: 'jsonl' | 'parquet'; compression: 'gzip' | 'none' };

const RECORD_PATH = 'tap FULL_TABLE (RECORD lines)';

/** Lines of a JSONL batch file, gunzipped when it is gzip (node's zlib: the bench's own count, not the tap's). */
async function jsonlRows(path: string, gzip: boolean): Promise<number> {
  let n = 0;
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  for await (const chunk of gzip ? input.pipe(createGunzip()) : input) {
    const b = chunk as Buffer;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  }
  return n;
}

/** Rows of Parquet files, from their footers (DuckDB's parquet_metadata, read after the run, outside its timing). */
async function parquetRows(paths: string[]): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const list = paths.map((p) => `'${p.replace(/'/g, "''")}'`).join(', ');
    const r = await conn.runAndReadAll(`SELECT sum(num_rows)::BIGINT AS n FROM parquet_file_metadata([${list}])`);
    return Number(r.getRowObjects()[0]!.n);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/**
 * The tap with batch_config writing to a fresh directory each run: rows are counted from the files it
 * wrote (not from its stdout, which holds only SCHEMA, BATCH and STATE), bytes are the files' sizes, and
 * the files are removed before the next run.
 */
async function batchContender(name: string, target: Target, table: string, encoding: Encoding): Promise<Contender> {
  const dir = mkdtempSync(join(tmpdir(), 'tap-bench-batch-'));
  const files = await tapFiles(target, table, { batch_config: { encoding, storage: { root: pathToFileURL(dir).href } } });
  return {
    name,
    table,
    note: 'rows counted from the files the tap wrote; bytes are the files’ sizes',
    run: async () => {
      const r = await runPipeline([tapStage(files)]);
      try {
        const paths = readdirSync(dir).map((f) => join(dir, f));
        if (paths.some((p) => p.endsWith('.part'))) throw new Error(`unfinished files left in ${dir}`);
        const bytes = paths.reduce((s, p) => s + statSync(p).size, 0);
        let rows = 0;
        if (encoding.format === 'parquet') rows = await parquetRows(paths);
        else for (const p of paths) rows += await jsonlRows(p, encoding.compression === 'gzip');
        return { ...r, rows, bytes };
      } finally {
        for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
      }
    },
  };
}

/**
 * BATCH files against RECORD lines on the same table, alternated: the RECORD path (lines to the bench,
 * counted and discarded), BATCH JSONL uncompressed, JSONL gzip (level 1, members of 1 MiB compressed two at a
 * time on zlib's thread pool), Parquet with GZIP pages (the tap's own writer, zlib's level 1, on its Parquet
 * thread) and uncompressed Parquet. The files go to the machine's temp directory.
 */
export async function batchScenario(target: Target, table: string, rounds: number, log: Log, hypertable = false): Promise<ResultRow[]> {
  // the hypertable's title differs outside its parentheses, which the chart's file name leaves out
  const section = hypertable
    ? `BATCH files against RECORD lines on a native TimescaleDB hypertable (${table})`
    : `BATCH files against RECORD lines (native PostgreSQL 15, ${table})`;
  const contenders = [
    await tapContender(RECORD_PATH, target, table, {}, 'records to the bench (counted, discarded)'),
    await batchContender('tap BATCH jsonl (none)', target, table, { format: 'jsonl', compression: 'none' }),
    await batchContender('tap BATCH jsonl (gzip)', target, table, { format: 'jsonl', compression: 'gzip' }),
    await batchContender('tap BATCH parquet (gzip)', target, table, { format: 'parquet', compression: 'gzip' }),
    await batchContender('tap BATCH parquet (none)', target, table, { format: 'parquet', compression: 'none' }),
  ];
  const rows = await alternate(section, contenders, rounds, log);
  // each line against the RECORD path of the same runs (the target: BATCH jsonl none at >= 90% of it)
  const recordRow = rows.find((r) => r.name === RECORD_PATH);
  const record = recordRow?.rowsPerSec;
  // where the lines keep every core busy (the server's work included), rows/s follows this share of CPU-s
  const recordCpu = recordRow?.machineCpuSeconds;
  return rows.map((r) =>
    r.rowsPerSec === undefined || r.cpuSeconds === undefined || !r.rows
      ? r
      : {
          ...r,
          extra: {
            ...(record ? { 'rows/s of the RECORD path': `${((r.rowsPerSec / record) * 100).toFixed(0)}%` } : {}),
            ...(recordCpu && r.machineCpuSeconds
              ? { "the RECORD path's machine CPU-s against this line's": `${((recordCpu / r.machineCpuSeconds) * 100).toFixed(0)}%` }
              : {}),
            'CPU s per 1M rows': ((r.cpuSeconds / r.rows) * 1e6).toFixed(2),
          },
        },
  );
}
