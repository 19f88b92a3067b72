import { Worker } from 'node:worker_threads';
import type { EncodeOptions, RecordBatch } from '../postgres/record-encoder.js';

/** Messages to a transcode worker (transcode-worker.ts). */
export type ToWorker =
  | { type: 'start'; id: number; options: EncodeOptions }
  | { type: 'data'; id: number; chunk: ArrayBuffer }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

type FromWorker =
  | { type: 'batch'; id: number; bytes: ArrayBuffer; length: number; rows: number; last?: string[] }
  | { type: 'credit'; id: number }
  | { type: 'done'; id: number }
  | { type: 'error'; id: number; message: string };

/** COPY chunks (~64 kB each) sent to a worker and not yet taken by its transcoder. */
const IN_FLIGHT = 4;
/** RECORD batches received and not yet taken by the reader: more input waits. */
const MAX_WAITING = 2;

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
 * and RECORD batches from the workers to stdout. Each COPY is one job on the least busy worker; its input
 * is sent a few chunks ahead of the worker (credits), and none while two of its batches wait for the
 * reader, so a slow stdout still stops the socket reads (backpressure) and memory stays bounded.
 */
export class TranscodeWorkers {
  private readonly workers: { worker: Worker; jobs: number }[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;

  constructor(private readonly size: number) {}

  private pick(): { worker: Worker; jobs: number } {
    if (this.workers.length < this.size) {
      const worker = new Worker(new URL('./transcode-worker.js', import.meta.url));
      // the tap exits when its work is done, not when the workers are
      worker.unref();
      worker.on('message', (m: FromWorker) => this.receive(m));
      worker.on('error', (err) => this.failAll(err));
      this.workers.push({ worker, jobs: 0 });
    }
    return this.workers.reduce((a, b) => (b.jobs < a.jobs ? b : a));
  }

  private receive(m: FromWorker): void {
    const job = this.jobs.get(m.id);
    if (!job) return; // an aborted job's last words
    if (m.type === 'batch') job.batches.push({ bytes: Buffer.from(m.bytes, 0, m.length), rows: m.rows, last: m.last });
    else if (m.type === 'credit') job.credits++;
    else if (m.type === 'done') job.finished = true;
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
    const feeding = (async () => {
      try {
        for await (const chunk of copyOut) {
          while (!stopped && !job.error && (job.credits === 0 || job.batches.length >= MAX_WAITING)) await this.wait(job);
          if (stopped || job.error) return;
          // a copy: the chunk is a view of the socket's buffer, which may hold other bytes
          const copy = new Uint8Array(chunk.length);
          copy.set(chunk);
          job.credits--;
          post({ type: 'data', id, chunk: copy.buffer }, [copy.buffer]);
        }
        post({ type: 'end', id });
      } catch (err) {
        feedError = err;
        this.wake(job);
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
      this.wake(job);
      if (!completed) post({ type: 'abort', id });
      this.jobs.delete(id);
      slot.jobs--;
      // the feeder ends with its source: at its end, or when the runner destroys it after a stop
      void feeding;
    }
  }
}
