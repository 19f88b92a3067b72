import { Worker } from 'node:worker_threads';
import type { ParquetColumn } from './parquet-columns.js';
import type { ParquetWriterOptions } from './parquet-writer.js';
import { movableBatchBuffer, reuseBatchBuffer } from '../singer/output-buffers.js';

/** Messages to the Parquet thread (parquet-worker.ts), about the file `id`. */
export type ToParquetThread =
  | { type: 'open'; id: number; path: string; columns: readonly ParquetColumn[]; options: ParquetWriterOptions }
  | { type: 'write'; id: number; bytes: ArrayBuffer; offset: number; length: number; copyText: boolean; batch: boolean }
  | { type: 'finish'; id: number }
  | { type: 'abort'; id: number };

/**
 * The answer to each message, in order: `error` when it failed (and every later one of that file fails);
 * `bytes`: a write's buffer, given back for a later write (`batch`: to the batch buffers of output-buffers.ts)
 */
export interface FromParquetThread {
  readonly id: number;
  readonly error?: string;
  readonly bytes?: ArrayBuffer;
  readonly batch?: boolean;
}

/** writes sent to the thread and not yet answered, per file: ~1 MB each, so memory stays bounded */
const IN_FLIGHT = 2;
/** buffers given back by the thread, kept for the next writes: each write's lines are copied into one */
const SPARE = IN_FLIGHT + 1;

let shared: ParquetThread | undefined;

/**
 * The one thread every Parquet file of the process is encoded on, started with the first file. The
 * reading thread copies each batch of record lines once, into a reused buffer that is moved to the thread,
 * and waits only when IN_FLIGHT writes of a file are unanswered, so reading, transcoding and Parquet
 * encoding overlap.
 */
export class ParquetThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }[]>();
  private nextId = 1;
  private failure: Error | undefined;
  /**
   * Input buffers back from the thread, reused: a new 1 MiB buffer for every batch, left to the GC, cost
   * ~15 MB of peak RSS (measured on the bench's `wide`: 199 against 182 MB with 65,536-row groups).
   */
  private readonly spare: ArrayBuffer[] = [];

  private constructor() {
    // a small young generation: the thread's garbage is short-lived (little of it since rows come as COPY text),
    // and a larger one is RSS (measured on the bench's hypertable: V8's default 148 MB peak, 4 MB 144-145, 2 MB 140-143)
    this.worker = new Worker(new URL('./parquet-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    this.worker.unref();
    this.worker.on('message', (m: FromParquetThread) => {
      if (m.bytes && m.batch) reuseBatchBuffer(m.bytes);
      else if (m.bytes && this.spare.length < SPARE) this.spare.push(m.bytes);
      const w = this.waiting.get(m.id)?.shift();
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve();
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const queue of this.waiting.values()) for (const w of queue.splice(0)) w.reject(err);
      if (shared === this) shared = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the Parquet encoding thread exited (code ${code})`)));
  }

  static get(): ParquetThread {
    return (shared ??= new ParquetThread());
  }

  /** A file on the thread: its `.part` path is created before this returns. */
  async open(path: string, columns: readonly ParquetColumn[], options: ParquetWriterOptions): Promise<ThreadedParquetWriter> {
    const id = this.nextId++;
    this.waiting.set(id, []);
    // the process waits for the thread while a file is open
    if (this.waiting.size === 1) this.worker.ref();
    await this.send({ type: 'open', id, path, columns, options });
    return new ThreadedParquetWriter(this, id);
  }

  send(m: ToParquetThread, transfer: ArrayBuffer[] = []): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const answered = new Promise<void>((resolve, reject) => this.waiting.get(m.id)!.push({ resolve, reject }));
    this.worker.postMessage(m, transfer);
    return answered;
  }

  /** A copy of `bytes` in a buffer of its own, to be moved to the thread. */
  copyOf(bytes: Buffer): ArrayBuffer {
    const i = this.spare.findIndex((b) => b.byteLength >= bytes.length);
    const buffer = i >= 0 ? this.spare.splice(i, 1)[0]! : new ArrayBuffer(Math.max(bytes.length, 1 << 20));
    bytes.copy(new Uint8Array(buffer));
    return buffer;
  }

  close(id: number): void {
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker.unref();
  }
}

/** One file's writes on the Parquet thread. */
export class ThreadedParquetWriter {
  private readonly inFlight: Promise<void>[] = [];
  /** finished or aborted: the thread has forgotten the file */
  private closed = false;

  constructor(
    private readonly thread: ParquetThread,
    private readonly id: number,
  ) {}

  /**
   * Whole record lines, or COPY text rows (`copyText`). A batch buffer's (output-buffers.ts) are moved to the
   * thread, which gives the buffer back to the batch buffers: `bytes` are empty once this returns (issue #35:
   * on the bench's hypertable, the tap took ~0.35 CPU-s and 9 MB of peak RSS less than with a copy of each
   * batch). Other bytes are copied, and may be reused once this returns.
   */
  async write(bytes: Buffer, copyText: boolean): Promise<void> {
    const length = bytes.length;
    const moved = movableBatchBuffer(bytes);
    const buffer = moved ?? this.thread.copyOf(bytes);
    const m = { type: 'write', id: this.id, bytes: buffer, offset: 0, length, copyText, batch: moved !== undefined } as const;
    const sent = this.thread.send(m, [buffer]);
    sent.catch(() => undefined);
    this.inFlight.push(sent);
    if (this.inFlight.length >= IN_FLIGHT) await this.inFlight.shift();
  }

  async finish(): Promise<void> {
    this.closed = true;
    try {
      const done = this.thread.send({ type: 'finish', id: this.id });
      await Promise.all(this.inFlight.splice(0));
      await done;
    } finally {
      this.thread.close(this.id);
    }
  }

  /** Drops the file; after a failed finish, the thread has closed it already. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      const done = this.thread.send({ type: 'abort', id: this.id });
      await Promise.allSettled(this.inFlight.splice(0));
      await done.catch(() => undefined);
    } finally {
      this.thread.close(this.id);
    }
  }
}
