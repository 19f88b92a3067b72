import { chmod, unlink } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
// types only: DuckDB's native module loads when the first Parquet file is written, never in a run without one
import type * as DuckDB from '@duckdb/node-api';
import { publish, DurableFile, type BatchFile } from './durable-file.js';
import { ExactValueStager } from './exact-value-stager.js';
import { gzipParquetPages } from './parquet-gzip-pages.js';
import { sqlString, type ParquetColumns } from './parquet-columns.js';

/**
 * Encodes JSONL record files as Parquet with DuckDB (in memory, no database file): its JSON reader
 * parses the lines and its Parquet writer builds the row groups, in DuckDB's own thread, off Node's main
 * thread. With compression gzip, DuckDB writes the pages uncompressed and gzipParquetPages gzips them at
 * zlib's level 1 on libuv's threads: DuckDB's own GZIP (miniz at its default level, which DuckDB does not
 * let one set) took 2.1 of its 2.7 CPU-s per 1M rows of the bench's wide shape; level 1 takes ~0.8 with
 * the rewrite, for files ~2% bigger. DuckDB was measured against parquet-wasm + apache-arrow on 1M rows of
 * that shape: 3.8 against 6.2 CPU-seconds, 0.3 against 0.55 GB peak RSS, and parquet-wasm runs on the
 * main thread (see the commit that added it); bench/README.md lists what each candidate measured.
 */
export class ParquetEncoder {
  private duckdb: Promise<typeof DuckDB> | undefined;

  constructor(private readonly compression: 'gzip' | 'none') {}

  /** `longestLine`: an upper bound of the staged file's longest line, in bytes */
  async encode(jsonl: string, parquet: string, columns: ParquetColumns, longestLine: number): Promise<void> {
    this.duckdb ??= import('@duckdb/node-api');
    // Memory, measured by hand on 1M rows of the bench's wide shape (peak RSS of the encoding alone, the same
    // CPU each way): DuckDB's defaults (a thread per core, 122,880-row groups) 367 MB; one thread and
    // 30,720-row groups 263 MB; the JSON reader's line limit at 16 MB instead of 1 GB (its buffer follows
    // the limit) 190 MB for 2 files; a fresh instance per file (one kept for the run grew) 150 MB for 3. The
    // file encodes while the tap reads the next one's rows (BatchFileOutput.checkpoint). Row order is kept
    // (a LOG_BASED file may change one row twice). No extension is ever downloaded: json and parquet are
    // built into the package.
    const db = await (await this.duckdb).DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', threads: '1' });
    try {
      const conn = await db.connect();
      try {
        // a line is never longer than the write that held it (a batch grows to fit its largest row)
        const lineLimit = Math.max(16 << 20, longestLine + 1);
        await conn.run(
          `COPY (SELECT ${columns.select} FROM read_json(${sqlString(jsonl)}, format = 'newline_delimited', records = true,
               columns = ${columns.struct}, maximum_object_size = ${lineLimit}))
             TO ${sqlString(this.compression === 'gzip' ? rawPath(parquet) : parquet)} (FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE 30720)`,
        );
      } finally {
        conn.closeSync();
      }
    } finally {
      db.closeSync();
    }
    if (this.compression === 'gzip')
      try {
        await gzipParquetPages(rawPath(parquet), parquet);
      } finally {
        await unlink(rawPath(parquet)).catch(() => undefined);
      }
  }
}

/** `<name>.raw.part` beside `<name>.part`: DuckDB's uncompressed file, before its pages are gzipped */
function rawPath(parquet: string): string {
  return parquet.replace(/\.part$/, '.raw.part');
}

/**
 * A Parquet batch file: the records (the JSONL path's bytes, with exact values staged as strings) go to
 * `<name>.jsonl.part`, then DuckDB writes `<name>.part` (gzip: `<name>.raw.part`, its pages then gzipped into `<name>.part`), which is published as `<name>` (fsync, rename)
 * like a JSONL file. A kill leaves only `.part` files, which no BATCH names and the next run removes.
 */
export class ParquetFile implements BatchFile {
  readonly url: string;
  private readonly stager: ExactValueStager | undefined;
  private longestWrite = 0;

  private constructor(
    readonly path: string,
    private readonly records: DurableFile,
    private readonly encoder: ParquetEncoder,
    private readonly columns: ParquetColumns,
    private readonly mode: number | undefined,
  ) {
    this.url = pathToFileURL(path).href;
    const stager = new ExactValueStager(columns.staged);
    this.stager = stager.needed ? stager : undefined;
  }

  /** `mode`: of the staged records and the Parquet file (0600 when staged for upload); the umask's default without it */
  static async create(path: string, encoder: ParquetEncoder, columns: ParquetColumns, mode?: number): Promise<ParquetFile> {
    return new ParquetFile(path, await DurableFile.create(`${path}.jsonl`, false, mode), encoder, columns, mode);
  }

  write(bytes: Buffer): Promise<void> {
    const staged = this.stager ? this.stager.stage(bytes) : bytes;
    this.longestWrite = Math.max(this.longestWrite, staged.length);
    return this.records.write(staged);
  }

  async commit(): Promise<void> {
    const jsonl = await this.records.finish();
    try {
      await this.encoder.encode(jsonl, `${this.path}.part`, this.columns, this.longestWrite);
      // DuckDB creates its file with the umask's mode
      if (this.mode !== undefined) await chmod(`${this.path}.part`, this.mode);
      await publish(`${this.path}.part`, this.path);
    } finally {
      await unlink(jsonl).catch(() => undefined);
    }
  }

  async discard(): Promise<void> {
    await this.records.discard();
    await unlink(`${this.path}.part`).catch(() => undefined);
    await unlink(rawPath(`${this.path}.part`)).catch(() => undefined);
  }
}
