import { Worker } from 'node:worker_threads';
import type { EncodeOptions, RecordBatch } from '../postgres/record-encoder.js';
import { lendBatchBuffer } from '../singer/output-buffers.js';

/** Messages to a transcode worker (transcode-worker.ts). */
export type ToWorker =
  | { type: 'start'; id: number; options: EncodeOptions }
  | { type: 'data'; id: number; chunk: ArrayBuffer; length: number }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number }
  /** a batch buffer of this worker's, back from stdout for the next batch */
  | { type: 'buffer'; bytes: ArrayBuffer };

type FromWorker =
  | { type: 'batch'; id: number; bytes: ArrayBuffer; length: number; rows: number; last?: string[] }
  /** bytes: the input message's buffer, which the worker is done with */
  | { type: 'credit'; id: number; bytes: ArrayBuffer }
  /** cpuSeconds: the worker thread's CPU time so far, where the OS tells it (thread-cpu.ts) */
  | { type: 'done'; id: number; cpuSeconds?: number }
  | { type: 'error'; id: number; message: string };

/** COPY input messages sent to a worker and not yet taken by its transcoder. */
const IN_FLIGHT = 2;
/**
 * Socket reads are gathered into messages of about this size: a server that sends slower than the
 * tap reads gives 8 kB reads (its send buffer), and one message each cost more CPU in postMessage,
 * credits and GC than the transcoding they fed.
 */
const MESSAGE_BYTES = 256 * 1024;
/** how long gathered input may wait for more before it is sent anyway (a slow COPY still flows) */
const GATHER_MS = 2;
/** spare input buffers kept for reuse (the workers give each one back with its credit) */
const SPARE_INPUTS = 8;
/** RECORD batches received and not yet taken by the reader: more input waits. */
const MAX_WAITING = 2;

/** A worker thread, its jobs now, and its CPU time as of its last finished job. */
interface Slot {
  readonly worker: Worker;
  jobs: number;
  cpuSeconds?: number;
}

interface Job {
  readonly batches: RecordBatch[];
  credits: number;
  finished: boolean;
  error?: Error;
  /** the reader (waiting for a batch or the end) and the feeder (for a credit, or a batch taken) */
  readonly waiting: (() => void)[];
}

/**
 * The COPY-text transcoder on worker threads, so that chunks read at once (max_concurrent_chunks > 1)
 * are transcoded on as many cores: the main thread only moves COPY bytes from the sockets to the workers
 * and RECORD batches from the workers to stdout. Each COPY is one job on the least busy worker; its socket
 * reads are gathered into messages of up to MESSAGE_BYTES, at most IN_FLIGHT ahead of the worker (each
 * credit brings a message's buffer back for the next), and none while two of its batches wait for the
 * reader, so a slow stdout still stops the socket reads (backpressure) and memory stays bounded. A batch's
 * buffer goes back to its worker once stdout is done with it (output-buffers.ts lendBatchBuffer).
 */
export class TranscodeWorkers {
  private readonly workers: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly spareInputs: ArrayBuffer[] = [];
  private nextId = 0;

  constructor(private readonly size: number) {}

  /** CPU seconds of the worker threads so far (each as of its last finished job); undefined where the OS does not tell. */
  cpuSeconds(): number | undefined {
    if (this.workers.some((w) => w.cpuSeconds === undefined)) return undefined;
    return this.workers.reduce((n, w) => n + w.cpuSeconds!, 0);
  }

  /** How many worker threads were started so far. */
  get started(): number {
    return this.workers.length;
  }

  private pick(): Slot {
    if (this.workers.length < this.size) {
      const worker = new Worker(new URL('./transcode-worker.js', import.meta.url));
      // the tap exits when its work is done, not when the workers are
      worker.unref();
      const slot: Slot = { worker, jobs: 0 };
      worker.on('message', (m: FromWorker) => this.receive(m, slot));
      worker.on('error', (err) => this.failAll(err));
      this.workers.push(slot);
    }
    return this.workers.reduce((a, b) => (b.jobs < a.jobs ? b : a));
  }

  private receive(m: FromWorker, slot: Slot): void {
    if (m.type === 'done') slot.cpuSeconds = m.cpuSeconds;
    const job = this.jobs.get(m.id);
    if (!job) return; // an aborted job's last words
    if (m.type === 'batch') {
      const bytes = Buffer.from(m.bytes, 0, m.length);
      // once stdout is done with it, the buffer goes back to the worker for a later batch
      lendBatchBuffer(bytes, (ab) => slot.worker.postMessage({ type: 'buffer', bytes: ab } satisfies ToWorker, [ab]));
      job.batches.push({ bytes, rows: m.rows, last: m.last });
    } else if (m.type === 'credit') {
      job.credits++;
      if (m.bytes.byteLength === MESSAGE_BYTES && this.spareInputs.length < SPARE_INPUTS) this.spareInputs.push(m.bytes);
    } else if (m.type === 'done') job.finished = true;
    else job.error = new Error(m.message);
    this.wake(job);
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) {
      job.error = new Error(`a transcode worker failed: ${err.message}`, { cause: err });
      this.wake(job);
    }
  }

  private wake(job: Job): void {
    for (const resolve of job.waiting.splice(0)) resolve();
  }

  private wait(job: Job): Promise<void> {
    return new Promise((resolve) => job.waiting.push(resolve));
  }

  /** A buffer for an input message of at least `bytes`: a spare one when it fits. */
  private inputBuffer(bytes: number): Buffer {
    const spare = bytes <= MESSAGE_BYTES ? this.spareInputs.pop() : undefined;
    return spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(Math.max(MESSAGE_BYTES, bytes));
  }

  /** The RECORD batches of one COPY's output, transcoded on a worker, in order. */
  async *encode(copyOut: AsyncIterable<Buffer>, options: EncodeOptions): AsyncGenerator<RecordBatch> {
    const slot = this.pick();
    const id = this.nextId++;
    const job: Job = { batches: [], credits: IN_FLIGHT, finished: false, waiting: [] };
    this.jobs.set(id, job);
    slot.jobs++;
    const post = (m: ToWorker, transfer: ArrayBuffer[] = []): void => slot.worker.postMessage(m, transfer);
    post({ type: 'start', id, options });
    let stopped = false;
    let feedError: unknown;
    // socket reads gathered into one buffer per message (MESSAGE_BYTES), a copy: a read is a view of a
    // socket buffer that pg may still hold a part of (the bytes after CopyDone)
    let held: Buffer | undefined;
    let used = 0;
    let timer: NodeJS.Timeout | undefined;
    const blocked = (): boolean => job.credits === 0 || job.batches.length >= MAX_WAITING;
    const send = (): void => {
      clearTimeout(timer);
      timer = undefined;
      if (!held || used === 0) return;
      const ab = held.buffer as ArrayBuffer;
      job.credits--;
      post({ type: 'data', id, chunk: ab, length: used }, [ab]);
      held = undefined;
      used = 0;
    };
    // gathered input waits GATHER_MS for more, then goes if the worker may take it (else at the next read or credit)
    const later = (): void => {
      timer = undefined;
      if (stopped || job.error) return;
      if (blocked()) timer = setTimeout(later, GATHER_MS);
      else send();
    };
    const feeding = (async () => {
      try {
        for await (const chunk of copyOut) {
          if (held && used + chunk.length > held.length) {
            while (!stopped && !job.error && blocked()) await this.wait(job);
            if (stopped || job.error) return;
            send();
          }
          held ??= this.inputBuffer(chunk.length);
          used += chunk.copy(held, used);
          if (used >= held.length / 2 && !blocked()) send();
          else timer ??= setTimeout(later, GATHER_MS);
        }
        while (!stopped && !job.error && blocked() && held) await this.wait(job);
        if (stopped || job.error) return;
        send();
        post({ type: 'end', id });
      } catch (err) {
        feedError = err;
        this.wake(job);
      } finally {
        clearTimeout(timer);
      }
    })();
    let completed = false;
    try {
      for (;;) {
        const batch = job.batches.shift();
        if (batch) {
          this.wake(job); // room for more input
          yield batch;
          continue;
        }
        if (feedError !== undefined) throw feedError;
        if (job.error) throw job.error;
        if (job.finished) break;
        await this.wait(job);
      }
      completed = true;
    } finally {
      stopped = true;
      clearTimeout(timer);
      this.wake(job);
      if (!completed) post({ type: 'abort', id });
      this.jobs.delete(id);
      slot.jobs--;
      // the feeder ends with its source: at its end, or when the runner destroys it after a stop
      void feeding;
    }
  }
}
