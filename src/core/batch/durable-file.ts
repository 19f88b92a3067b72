import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GzipThread } from './gzip-thread.js';
import { movableBatchBuffer } from '../singer/output-buffers.js';

/**
 * Bytes of JSONL per gzip member, each compressed on its own. 1 MiB members cost ~0.3% more bytes than one
 * stream (each starts with an empty dictionary) and less CPU than 512 or 256 KiB ones (bench/README.md, issue #35).
 */
export const MEMBER_BYTES = 1024 * 1024;
/**
 * Bytes per write of an uncompressed file: the kernel's copy of 1 MiB writes into the page cache took
 * twice the system CPU of 512 KiB ones here (1.4 against 0.7 CPU-s for the 5M-row hypertable's 850 MB).
 */
export const WRITE_BYTES = 512 * 1024;
/**
 * Pieces of a file on their way (compressed and written, or written), besides the one being filled: 1, 2 and
 * 4 measured on 2 cores in bench/README.md (issue #35), when libuv's pool compressed them; with the one gzip
 * thread the same 2 are kept (not measured again).
 */
export const PIECES_IN_FLIGHT = 2;

/** A piece of a file: in shared memory, so the gzip thread reads it where it is. */
interface Piece {
  readonly shared: SharedArrayBuffer;
  readonly bytes: Buffer;
}

/**
 * Pieces given back once written, for the next ones (any file's): a fresh buffer per piece is an mmap'd
 * block, page-faulted in and freed by a GC.
 */
const spare: Piece[] = [];
const SPARE = 2 * PIECES_IN_FLIGHT + 2;
const PIECE_BYTES = Math.max(MEMBER_BYTES, WRITE_BYTES);

function takePiece(): Piece {
  const reused = spare.pop();
  if (reused) return reused;
  const shared = new SharedArrayBuffer(PIECE_BYTES);
  return { shared, bytes: Buffer.from(shared) };
}

function givePiece(piece: Piece): void {
  if (spare.length < SPARE) spare.push(piece);
}

const ignore = (): void => undefined;

/** A batch file being written: named in a BATCH message only after `commit`. */
export interface BatchFile {
  /** where it is written (on local disk) */
  readonly path: string;
  /** what the BATCH message names: file:// or s3:// */
  readonly url: string;
  /**
   * Appends `bytes`, waiting while the compressor or the disk is behind; `bytes` may be reused once it resolves.
   * `copyText`: they are COPY text rows (RowForm `copy-text`), which only a Parquet file takes.
   */
  write(bytes: Buffer, copyText?: boolean): Promise<void>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * A file that appears under its name only once it is complete: written to `<name>.part`, fsync'd,
 * closed, renamed, and the directory fsync'd. A process killed before `commit` leaves only a `.part`
 * file, which no BATCH message names.
 *
 * The bytes are cut into pieces (WRITE_BYTES; MEMBER_BYTES with gzip), written in order; a write waits while
 * PIECES_IN_FLIGHT are on their way, so a file holds at most PIECES_IN_FLIGHT + 1 pieces in memory. With gzip
 * a batch buffer of records (output-buffers.ts) is a piece as it is, and each piece is compressed on its own,
 * off the reading thread (on the gzip thread, gzip-thread.ts, which also writes it), as one member of the file: a gzip file may hold several members, which `gzip -d`, Python's gzip
 * module (so singer-sdk's BATCH reader) and Node's zlib decompress as one stream (RFC 1952 §2.2). One zlib
 * stream made each write wait until its batch was compressed, so the read and zlib took turns.
 */
export class DurableFile implements BatchFile {
  readonly url: string;
  private piece: Piece | undefined;
  private used = 0;
  /** pieces not yet on disk, oldest first: each settles once its piece and every one before it is written */
  private readonly inFlight: Promise<void>[] = [];
  /** rejects when a piece failed */
  private written: Promise<void> = Promise.resolve();
  /** settles once nothing sent is still being written: the descriptor may be closed */
  private drained: Promise<void> = Promise.resolve();
  private pieces = 0;
  private closed: Promise<void> | undefined;
  /** bytes per piece */
  private readonly full: number;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly compress: boolean,
  ) {
    this.url = pathToFileURL(path).href;
    this.full = compress ? MEMBER_BYTES : WRITE_BYTES;
  }

  /** `mode`: of the new file (0600 for a staged file); the umask's default without it */
  static async create(path: string, gzip: boolean, mode?: number): Promise<DurableFile> {
    return new DurableFile(path, await open(`${path}.part`, 'wx', mode), gzip);
  }

  async write(bytes: Buffer, copyText = false): Promise<void> {
    if (copyText) throw new Error('a JSONL batch file takes records, not COPY text rows');
    // with gzip, a batch buffer of records is a member as it is: moved to the gzip thread, not copied into a
    // piece (issue #35: a JSONL gzip run of the bench's hypertable peaked at 122-125 against 138-143 MB RSS,
    // for the same CPU); `bytes` are empty after
    const moved = this.compress ? movableBatchBuffer(bytes) : undefined;
    if (moved) {
      if (this.used > 0) this.startPiece();
      void this.startMember(moved, bytes.length);
      while (this.inFlight.length >= PIECES_IN_FLIGHT) await this.inFlight.shift();
      return;
    }
    for (let at = 0; at < bytes.length;) {
      this.piece ??= takePiece();
      const n = bytes.copy(this.piece.bytes, this.used, at, at + this.full - this.used);
      this.used += n;
      at += n;
      if (this.used === this.full) await this.send();
    }
  }

  /** Completes the file: everything on disk and the name in place. */
  async commit(): Promise<void> {
    await publish(await this.finish(), this.path);
  }

  /** Writes out what is buffered and closes the file, still under its `.part` name, which it returns. */
  async finish(): Promise<string> {
    // an empty gzip file is one empty member, as a zlib stream ended without input writes it
    if (this.used > 0 || (this.compress && this.pieces === 0)) this.startPiece();
    try {
      await this.written;
    } finally {
      await this.drained;
      await this.close();
    }
    return `${this.path}.part`;
  }

  /** Drops an unfinished file (a failed read): its rows are read again from the last STATE. */
  async discard(): Promise<void> {
    if (this.piece) givePiece(this.piece);
    this.piece = undefined;
    this.used = 0;
    await this.drained;
    await this.close().catch(ignore);
    await unlink(`${this.path}.part`).catch(ignore);
  }

  /** Starts the full piece on its way, then waits while PIECES_IN_FLIGHT are. */
  private async send(): Promise<void> {
    this.startPiece();
    if (this.inFlight.length >= PIECES_IN_FLIGHT) await this.inFlight.shift();
  }

  private startPiece(): void {
    const piece = this.piece ?? takePiece();
    const length = this.used;
    this.piece = undefined;
    this.used = 0;
    if (this.compress) {
      void this.startMember(piece.shared, length).then(() => givePiece(piece));
      return;
    }
    this.pieces++;
    const before = this.written;
    const written = (async () => {
      await before;
      await this.writeAll(piece.bytes.subarray(0, length));
      givePiece(piece);
    })();
    this.drained = written.catch(ignore);
    this.track(written);
  }

  /**
   * The first `length` bytes of `piece` on their way to the gzip thread as the file's next member. The thread
   * takes members in the order sent and answers them in that order: once this one is answered, every earlier
   * one is, so the descriptor may close. Settles, never rejecting, once the thread is done with `piece`.
   */
  private startMember(piece: SharedArrayBuffer | ArrayBuffer, length: number): Promise<void> {
    this.pieces++;
    const done = GzipThread.get().member(this.fh.fd, piece, length);
    this.drained = done.catch(ignore);
    this.track(Promise.all([this.written, done]).then(ignore));
    return this.drained;
  }

  /** `written`: settles once the file's newest piece and every one before it are written */
  private track(written: Promise<void>): void {
    // a disk or zlib error rejects `written` before anyone awaits it: write/finish report it, the process must not crash on it
    written.catch(ignore);
    this.written = written;
    this.inFlight.push(written);
  }

  private async writeAll(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length;) at += (await this.fh.write(bytes, at)).bytesWritten;
  }

  private close(): Promise<void> {
    this.closed ??= this.fh.close();
    return this.closed;
  }
}

/** Gives a complete file its final name: its data fsync'd, renamed, and the directory fsync'd. */
export async function publish(part: string, path: string): Promise<void> {
  // fsync through a second descriptor: it flushes the file's data, whichever descriptor wrote it
  const fh = await open(part, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(part, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
