import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/**
 * A file that appears under its name only once it is complete: written to `<name>.part`, fsync'd,
 * closed, renamed, and the directory fsync'd. A process killed before `commit` leaves only a `.part`
 * file, which no BATCH message names. Compression (gzip) runs in zlib's async mode, on libuv's thread
 * pool, off the main thread.
 */
/** A batch file being written: named in a BATCH message only after `commit`. */
export interface BatchFile {
  /** where it is written (on local disk) */
  readonly path: string;
  /** what the BATCH message names: file:// or s3:// */
  readonly url: string;
  write(bytes: Buffer): Promise<void>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export class DurableFile implements BatchFile {
  readonly url: string;

  private constructor(
    readonly path: string,
    private readonly head: Writable,
    private readonly done: Promise<void>,
  ) {
    this.url = pathToFileURL(path).href;
    // a disk error rejects `done` before anyone awaits it: write/commit report it, the process must not crash on it
    done.catch(() => undefined);
  }

  /** `mode`: of the new file (0600 for a staged file); the umask's default without it */
  static async create(path: string, gzip: boolean, mode?: number): Promise<DurableFile> {
    // a stream over a path, not over a FileHandle: FileHandle#close waits forever for a stream made with autoClose false
    const file = createWriteStream(`${path}.part`, { flags: 'wx', highWaterMark: 1024 * 1024, mode });
    await once(file, 'open');
    if (!gzip)
      return new DurableFile(
        path,
        file,
        once(file, 'close').then(() => undefined),
      );
    // level 1: the files are a hand-over to a loader, and gzip's default level 6 costs 3x the CPU for ~10% smaller files
    const gz = createGzip({ level: 1, chunkSize: 256 * 1024 });
    return new DurableFile(path, gz, pipeline(gz, file));
  }

  /** Appends bytes, waiting while the compressor or the disk is behind. */
  async write(bytes: Buffer): Promise<void> {
    if (!this.head.write(bytes)) await Promise.race([once(this.head, 'drain'), this.done]);
  }

  /** Completes the file: everything on disk and the name in place. */
  async commit(): Promise<void> {
    await publish(await this.finish(), this.path);
  }

  /** Writes out what is buffered and closes the file, still under its `.part` name, which it returns. */
  async finish(): Promise<string> {
    this.head.end();
    await this.done;
    return `${this.path}.part`;
  }

  /** Drops an unfinished file (a failed read): its rows are read again from the last STATE. */
  async discard(): Promise<void> {
    this.head.destroy();
    await this.done.catch(() => undefined);
    await unlink(`${this.path}.part`).catch(() => undefined);
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
