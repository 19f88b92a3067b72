import { closeSync, openSync, writevSync } from 'node:fs';
import { columnBuffer, releaseColumnBuffers, type ColumnBuffer } from './parquet-column-buffers.js';
import type { ParquetColumn } from './parquet-columns.js';
import { CODEC, dataPageHeader, fileMetadata, type ChunkMeta, type RowGroupMeta } from './parquet-metadata.js';
import { RecordJsonScanner } from './record-json-scanner.js';
import { CopyRowScanner } from './copy-row-scanner.js';
import { GzipEngine } from './gzip-engine.js';

const MAGIC = Buffer.from('PAR1');
const NL = 10,
  COLON = 58,
  OPEN = 123,
  CLOSE = 125;

export interface ParquetWriterOptions {
  readonly compression: 'gzip' | 'none';
  /** rows per row group (and the size of each column's buffers) */
  readonly rowGroupRows: number;
  /** a row group also ends once its values hold this many bytes */
  readonly rowGroupBytes: number;
  /** of the new file; the umask's default without it */
  readonly mode?: number;
  /**
   * RECORD lines: the length of what comes before the record's `{` (recordPrefix of the stream, without its
   * brace), which is skipped, as is everything after the record; 0 for lines that are records
   */
  readonly recordPrefix: number;
}

/** a page that level 1 left at this share of its size or more is not worth compressing (level()) */
const INCOMPRESSIBLE = 0.9;
const REPROBE = 15;

/** every page is gzipped by one deflate state per level (GZIP_OPTIONS' 1, and 0 for stored pages): flush is synchronous */
let pages: GzipEngine | undefined;

/**
 * Row groups of 16,384 rows (or 16 MB of values, for large text and JSON): peak RSS of a BATCH run of the
 * bench's 50-chunk hypertable measured 144 MB with them, 151 MB with 32,768 rows and 163 MB with 65,536
 * (the RECORD path: 128 MB). Readers take any row group size; statistics are per row group.
 */
export const PARQUET_DEFAULTS = { rowGroupRows: 16_384, rowGroupBytes: 16 << 20 } as const;

/**
 * Writes one Parquet file as its records arrive: each record line is split into column buffers
 * (RecordJsonScanner); a full row group becomes one PLAIN data page per column (definition levels first),
 * gzipped at zlib's level 1, and written. One row group is held, so memory does not grow with the file; the
 * footer (parquet-metadata.ts) is written by `finish`. Synchronous, for the thread it runs on
 * (parquet-worker.ts), which has nothing else to do meanwhile: where the cores are all busy (2 of them: the
 * reading thread, the server, this one), the thread pool would add no CPU to gzip with.
 */
export class ParquetWriter {
  private readonly buffers: ColumnBuffer[];
  private readonly scanner: RecordJsonScanner;
  private readonly copyScanner: CopyRowScanner;
  private rows = 0;
  /** bytes from a record's end to its line's newline, as on the line before */
  private tail = 0;
  private at = MAGIC.length;
  private readonly groups: RowGroupMeta[] = [];
  /** per column: 0, or minus the row groups its pages are still stored for (level()) */
  private readonly probe: Int32Array;

  private constructor(
    private readonly file: number,
    private readonly columns: readonly ParquetColumn[],
    private readonly options: ParquetWriterOptions,
  ) {
    this.buffers = columns.map((c) => columnBuffer(c, options.rowGroupRows));
    this.probe = new Int32Array(columns.length);
    this.scanner = new RecordJsonScanner(this.buffers);
    this.copyScanner = new CopyRowScanner(this.buffers);
  }

  static create(path: string, columns: readonly ParquetColumn[], options: ParquetWriterOptions): ParquetWriter {
    const file = openSync(path, 'wx', options.mode);
    try {
      writeAll(file, [MAGIC]);
    } catch (err) {
      closeSync(file);
      throw err;
    }
    return new ParquetWriter(file, columns, options);
  }

  /** Whole lines (RECORD lines, or records: options.recordPrefix), each ending in '\n'. */
  write(lines: Buffer): void {
    const { recordPrefix } = this.options;
    let start = 0;
    while (start < lines.length) {
      const from = start + recordPrefix;
      // the prefix's last byte is the colon before `{` (checked here; the stream name is the encoder's)
      if (recordPrefix > 0 && (lines[from - 1] !== COLON || lines[from] !== OPEN)) throw this.notRecord(lines, start);
      const close = this.scanner.scan(lines, from, lines.length);
      // what follows the record (version, time_extracted) has one length in a batch: tried first, then searched
      let end = close + this.tail;
      if (lines[end] !== NL || lines[end - 1] !== CLOSE) {
        for (end = close; end < lines.length && lines[end] !== NL; end++);
        this.tail = end - close;
      }
      this.rowDone(end - start);
      start = end + 1;
    }
  }

  /** Whole COPY text rows of the columns, in order, each ending in '\n' (RowForm `copy-text`). */
  writeCopyText(rows: Buffer): void {
    for (let start = 0; start < rows.length;) {
      const end = rows.indexOf(NL, start);
      if (end < 0) throw new Error('COPY rows ended in the middle of a row');
      this.copyScanner.row(rows, start, end);
      this.rowDone(end - start);
      start = end + 1;
    }
  }

  /** Counts a row of `rowBytes` input bytes; writes the row group once it is full. */
  private rowDone(rowBytes: number): void {
    const { rowGroupRows, rowGroupBytes } = this.options;
    // the size is summed every 256 rows, and after any row of a megabyte or more
    const checkSize = (++this.rows & 255) === 0 || rowBytes >= 1 << 20;
    if (this.rows === rowGroupRows || (checkSize && this.bytes() >= rowGroupBytes)) this.flush();
  }

  private notRecord(lines: Buffer, start: number): Error {
    return new Error(`not a RECORD line of this stream: ${lines.toString('utf8', start, Math.min(lines.length, start + 120))}`);
  }

  /** Writes the last row group and the footer, and closes the file. */
  finish(): void {
    try {
      this.flush();
      const meta = fileMetadata(this.columns, this.groups, this.codec, 'tap-timescaledb');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(meta.length);
      writeAll(this.file, [meta, length, MAGIC]);
    } finally {
      this.close();
    }
  }

  /** Stops writing (a failed read): the file is left to be removed by its owner. */
  abort(): void {
    this.close();
  }

  private closed = false;

  /** Closes the file and gives the column buffers back, once: a buffer given back twice would serve two files. */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.copyScanner.dispose();
    releaseColumnBuffers(this.buffers);
    closeSync(this.file);
  }

  private get codec(): number {
    return this.options.compression === 'gzip' ? CODEC.GZIP : CODEC.UNCOMPRESSED;
  }

  private bytes(): number {
    let n = 0;
    for (const b of this.buffers) n += b.bytes;
    return n;
  }

  /**
   * Writes the row group filled so far: one page per column, gzipped here, on this thread (the reading
   * thread and the server keep the other cores busy), from the column buffers as they are (with a copy of
   * each page into one buffer first, the writer alone took 0.657 against 0.611 CPU-s per 1M rows of the bench's
   * hypertable), into the engine's reused output, so a row group costs no garbage of its size. The buffers are refilled once the pages are written.
   */
  private flush(): void {
    const rows = this.rows;
    if (rows === 0) return;
    const chunks: ChunkMeta[] = [];
    for (let k = 0; k < this.buffers.length; k++) {
      const b = this.buffers[k]!;
      const levels = definitionLevels(b.defs, rows, b.nulls);
      const values = b.plain();
      const length = Buffer.alloc(4);
      length.writeUInt32LE(levels.length);
      const size = 4 + levels.length + values.length;
      let body: Buffer[] = [length, levels, values];
      let compressed = size;
      if (this.codec === CODEC.GZIP) {
        const level = this.level(k, size);
        // a view of the engine's buffer, written below before the next page is compressed
        const gz = (pages ??= new GzipEngine()).compressParts(body, level);
        if (level === 1 && gz.length >= size * INCOMPRESSIBLE) this.probe[k] = -REPROBE;
        body = [gz];
        compressed = gz.length;
      }
      const stats = b.stats();
      const header = dataPageHeader(rows, size, compressed, b.nulls, stats);
      chunks.push({
        column: b.column,
        offset: this.at,
        rows,
        nulls: b.nulls,
        stats,
        uncompressed: header.length + size,
        compressed: header.length + compressed,
      });
      this.at += header.length + compressed;
      writeAll(this.file, [header, ...body]);
    }
    this.groups.push({ rows, chunks });
    for (const b of this.buffers) b.reset();
    this.rows = 0;
  }

  /**
   * zlib's level for column k's page: 1, but 0 (stored blocks, still GZIP) for REPROBE row groups after a page
   * that level 1 left at INCOMPRESSIBLE or more of its size. Random doubles do that: on the bench's hypertable
   * the value column was 40% of the gzip CPU for 6% fewer bytes (0.19 CPU-s per 1M rows at level 1).
   */
  private level(k: number, size: number): number {
    if (size < 1024) return 1;
    if (this.probe[k]! < 0) {
      this.probe[k]!++;
      return 0;
    }
    return 1;
  }
}

function definitionLevels(defs: Uint8Array, rows: number, nulls: number): Buffer {
  if (nulls === 0 || nulls === rows) return Buffer.from([...varint(rows * 2), nulls === 0 ? 1 : 0]);
  const groups = Math.ceil(rows / 8);
  const header = varint(groups * 2 + 1);
  const out = Buffer.alloc(header.length + groups);
  out.set(header);
  for (let i = 0; i < rows; i++) out[header.length + (i >> 3)]! |= defs[i]! << (i & 7);
  return out;
}

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function writeAll(file: number, buffers: Buffer[]): void {
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    // at most IOV_MAX (1024) buffers per call
    let bytesWritten = writevSync(file, rest.slice(0, 1024));
    const next: Buffer[] = [];
    for (const b of rest.slice(0, 1024)) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        next.push(b.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    rest = [...next, ...rest.slice(1024)];
  }
}
