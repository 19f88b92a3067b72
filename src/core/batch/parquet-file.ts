import { unlink } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
// a type only: DuckDB's native module loads when the first Parquet file is written, never in a run without one
import type { DuckDBInstance } from '@duckdb/node-api';
import { publish, DurableFile, type BatchFile } from './durable-file.js';
import { ExactValueStager } from './exact-value-stager.js';
import { sqlString, type ParquetColumns } from './parquet-columns.js';

/**
 * Encodes JSONL record files as Parquet with DuckDB (in memory, no database file): its JSON reader
 * parses the lines and its Parquet writer compresses the row groups, both in DuckDB's own threads, off
 * Node's main thread. DuckDB was measured against parquet-wasm + apache-arrow on 1M rows of the bench's
 * wide shape: 3.8 against 6.2 CPU-seconds, 0.3 against 0.55 GB peak RSS, and parquet-wasm runs on the
 * main thread (see the commit that added it).
 */
export class ParquetEncoder {
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(private readonly compression: 'gzip' | 'none') {}

  async encode(jsonl: string, parquet: string, columns: ParquetColumns): Promise<void> {
    // never download an extension: json and parquet are built into the package. One thread and row groups
    // of 30,720 rows: encoding 1M rows of the bench's wide shape by itself peaked at 144 MB RSS against
    // 367 MB with DuckDB's defaults (a thread per core, 122,880 rows), for the same CPU; the file encodes
    // while the tap reads the next one's rows (BatchFileOutput.checkpoint), so the second thread bought
    // little wall time. Row order is kept (a LOG_BASED file may change one row twice).
    this.instance ??= import('@duckdb/node-api').then((duckdb) =>
      duckdb.DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', threads: '1' }),
    );
    const conn = await (await this.instance).connect();
    try {
      // a record may be large (a big jsonb): the reader's default limit is 16 MB a line
      await conn.run(
        `COPY (SELECT ${columns.select} FROM read_json(${sqlString(jsonl)}, format = 'newline_delimited', records = true,
             columns = ${columns.struct}, maximum_object_size = 1073741824))
           TO ${sqlString(parquet)} (FORMAT parquet, COMPRESSION ${this.compression === 'gzip' ? 'gzip' : 'uncompressed'}, ROW_GROUP_SIZE 30720)`,
      );
    } finally {
      conn.closeSync();
    }
  }
}

/**
 * A Parquet batch file: the records (the JSONL path's bytes, with exact values staged as strings) go to
 * `<name>.jsonl.part`, then DuckDB writes `<name>.part`, which is published as `<name>` (fsync, rename)
 * like a JSONL file. A kill leaves only `.part` files, which no BATCH names and the next run removes.
 */
export class ParquetFile implements BatchFile {
  readonly url: string;
  private readonly stager: ExactValueStager | undefined;

  private constructor(
    readonly path: string,
    private readonly records: DurableFile,
    private readonly encoder: ParquetEncoder,
    private readonly columns: ParquetColumns,
  ) {
    this.url = pathToFileURL(path).href;
    const stager = new ExactValueStager(columns.staged);
    this.stager = stager.needed ? stager : undefined;
  }

  static async create(path: string, encoder: ParquetEncoder, columns: ParquetColumns): Promise<ParquetFile> {
    return new ParquetFile(path, await DurableFile.create(`${path}.jsonl`, false), encoder, columns);
  }

  write(bytes: Buffer): Promise<void> {
    return this.records.write(this.stager ? this.stager.stage(bytes) : bytes);
  }

  async commit(): Promise<void> {
    const jsonl = await this.records.finish();
    try {
      await this.encoder.encode(jsonl, `${this.path}.part`, this.columns);
      await publish(`${this.path}.part`, this.path);
    } finally {
      await unlink(jsonl).catch(() => undefined);
    }
  }

  async discard(): Promise<void> {
    await this.records.discard();
    await unlink(`${this.path}.part`).catch(() => undefined);
  }
}
