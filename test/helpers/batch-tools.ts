import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './python-tools.js';

/** pyarrow (a Parquet reader other than the tap's DuckDB), moto's S3 server and target-postgres, from scripts/python-tools.sh. */
export const BATCH_TOOLS = {
  python: join(REPO, '.venv-batch-tools/bin/python'),
  motoServer: join(REPO, '.venv-batch-tools/bin/moto_server'),
  /** MeltanoLabs target-postgres with pyarrow beside it: singer-sdk reads Parquet batches only then */
  targetPostgres: join(REPO, '.venv-batch-tools/bin/target-postgres'),
};

/** Why the suites that need them skip here, or undefined; under CI=true a missing tool fails instead. */
export function batchToolsSkip(): string | undefined {
  const missing = Object.entries(BATCH_TOOLS)
    .filter(([, path]) => !existsSync(path))
    .map(([name]) => name);
  if (missing.length === 0) return undefined;
  const reason = `batch tools not installed (${missing.join(', ')}): run bash scripts/python-tools.sh`;
  if (process.env.CI) throw new Error(`CI must run the Parquet and S3 suites: ${reason}`);
  return reason;
}

export interface ParquetContent {
  /** each column's Arrow type as pyarrow names it, e.g. int64, decimal128(10, 2), timestamp[us, tz=UTC] */
  readonly types: Record<string, string>;
  /** integers and decimals as strings, timestamps as RFC 3339 UTC with microseconds */
  readonly rows: Record<string, any>[];
  /** per file: its rows, codecs, and the columns with min/max statistics pyarrow takes */
  readonly files: { rows: number; codecs: string[]; minmax: string[] }[];
}

/** Reads Parquet files with pyarrow (test/helpers/read-parquet.py). */
export async function readParquet(files: string[]): Promise<ParquetContent> {
  const { stdout } = await promisify(execFile)(BATCH_TOOLS.python, [join(REPO, 'test/helpers/read-parquet.py'), ...files], {
    maxBuffer: 1 << 30,
  });
  return JSON.parse(stdout) as ParquetContent;
}
