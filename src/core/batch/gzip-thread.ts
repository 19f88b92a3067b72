import { Worker } from 'node:worker_threads';
import { reuseBatchBuffer } from '../singer/output-buffers.js';

/**
 * A member to compress and append to the open file `fd`: the first `length` bytes of `piece`, a piece in
 * shared memory, or a batch buffer moved to the thread (`batch`), which the answer gives back.
 */
export interface ToGzipThread {
  readonly fd: number;
  readonly piece: SharedArrayBuffer | ArrayBuffer;
  readonly length: number;
  readonly batch?: boolean;
}

/** The answer to each member, in the order they were sent: `error` when compressing or writing it failed. */
export interface FromGzipThread {
  readonly error?: string;
  /** the member's batch buffer, back to the batch buffers of output-buffers.ts */
  readonly batch?: ArrayBuffer;
}

let shared: GzipThread | undefined;

/**
 * The one thread every JSONL gzip member of the process is compressed and written on (gzip-worker.ts),
 * started with the first gzip file. Pieces live in shared memory, so a member costs the reading thread one
 * small message and no allocation. On libuv's pool, each member's one-shot `gzip()` made a zlib stream, its
 * zlib state and output buffers on the reading thread's heap: the external memory they reported started a
 * full GC every ~80 ms (62 against 22 in a run of the bench's 5M-row hypertable), which cost ~1.4 CPU-s per
 * 5M rows beyond the compression (issue #35, bench/README.md).
 */
export class GzipThread {
  private readonly worker: Worker;
  /** members sent and not yet answered, oldest first: the thread answers in that order */
  private readonly waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private failure: Error | undefined;

  private constructor() {
    // a small young generation, as the Parquet thread's: this thread keeps nothing between members
    this.worker = new Worker(new URL('./gzip-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.worker.unref();
    this.worker.on('message', (m: FromGzipThread) => {
      if (m.batch) reuseBatchBuffer(m.batch);
      const w = this.waiting.shift();
      if (this.waiting.length === 0) this.worker.unref();
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve();
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const w of this.waiting.splice(0)) w.reject(err);
      if (shared === this) shared = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the gzip thread exited (code ${code})`)));
  }

  static get(): GzipThread {
    return (shared ??= new GzipThread());
  }

  /**
   * Compresses the first `length` bytes of `piece` as one gzip member and appends it to `fd`; resolves once
   * it is written. A shared `piece` must not change, nor `fd` close, until then; a batch buffer (`ArrayBuffer`)
   * is moved to the thread, and comes back to the batch buffers.
   */
  member(fd: number, piece: SharedArrayBuffer | ArrayBuffer, length: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const answered = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // the process waits for the thread while a member is on its way
    if (this.waiting.length === 1) this.worker.ref();
    if (piece instanceof SharedArrayBuffer) this.worker.postMessage({ fd, piece, length } satisfies ToGzipThread);
    else this.worker.postMessage({ fd, piece, length, batch: true } satisfies ToGzipThread, [piece]);
    return answered;
  }
}
