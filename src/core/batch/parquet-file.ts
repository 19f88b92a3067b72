import { unlink } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { publish, type BatchFile } from './durable-file.js';
import { recordPrefix } from '../postgres/record-encoder.js';
import type { ParquetColumns } from './parquet-columns.js';
import { PARQUET_DEFAULTS } from './parquet-writer.js';
import { ParquetThread, type ThreadedParquetWriter } from './parquet-thread.js';

/**
 * A Parquet batch file: its records are split into typed columns as they arrive and written to
 * `<name>.part` a row group at a time (parquet-writer.ts), then published as `<name>` (fsync, rename) like
 * a JSONL file. A kill leaves only a `.part` file, which no BATCH names and the next run removes.
 *
 * The writer is the tap's own, chosen by measurement (bench/README.md, issue #35): DuckDB's JSON reader
 * over a staged JSONL file, the tap's earlier writer, cost ~1.5 CPU-s per 1M rows more and held ~80 MB
 * more memory; DuckDB's appender and apache-arrow with parquet-wasm cost more still.
 */
export class ParquetFile implements BatchFile {
  readonly url: string;

  private constructor(
    readonly path: string,
    private readonly writer: ThreadedParquetWriter,
  ) {
    this.url = pathToFileURL(path).href;
  }

  /** `mode`: of the Parquet file (0600 when staged for upload); the umask's default without it */
  static async create(
    path: string,
    compression: 'gzip' | 'none',
    columns: ParquetColumns,
    stream: string,
    mode?: number,
  ): Promise<ParquetFile> {
    const options = { compression, mode, recordPrefix: recordPrefix(stream).length - 1, ...PARQUET_DEFAULTS };
    const writer = await ParquetThread.get().open(`${path}.part`, columns.columns, options);
    return new ParquetFile(path, writer);
  }

  /** whole RECORD lines of the stream, or COPY text rows of its columns (`copyText`) */
  write(bytes: Buffer, copyText = false): Promise<void> {
    return this.writer.write(bytes, copyText);
  }

  async commit(): Promise<void> {
    await this.writer.finish();
    await publish(`${this.path}.part`, this.path);
  }

  async discard(): Promise<void> {
    await this.writer.abort();
    await unlink(`${this.path}.part`).catch(() => undefined);
  }
}
