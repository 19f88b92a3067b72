/**
 * A worker thread of TranscodeWorkers: runs the COPY-text transcoder on the COPY bytes the main thread
 * sends, one job per COPY, and sends the RECORD batches back (their buffers transferred, not copied).
 * After each input chunk it has taken, it sends a credit, so the main thread sends a bounded number ahead.
 * The main thread sends each batch buffer back once stdout is done with it, for a later batch.
 */
import { parentPort } from 'node:worker_threads';
import { CopyTextTranscoder } from '../postgres/copy-text-transcoder.js';
import type { EncodeOptions } from '../postgres/record-encoder.js';
import { reuseBatchBuffer } from '../singer/output-buffers.js';
import { threadCpuSeconds } from './thread-cpu.js';
import type { ToWorker } from './transcode-workers.js';

/** The input of one job, as the async iterable the transcoder reads. */
class Feed implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly onTaken: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        yield chunk;
        // the transcoder asks for the next chunk: this one is done, and the transcoder keeps no view of it
        this.onTaken(chunk);
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

const port = parentPort!;
const transcoder = new CopyTextTranscoder();
const feeds = new Map<number, Feed>();

async function run(id: number, feed: Feed, options: EncodeOptions): Promise<void> {
  try {
    for await (const batch of transcoder.encode(feed, options)) {
      if (!feeds.has(id)) return; // aborted
      // the batch is the start of its own 1 MB buffer (output-buffers.ts): hand the whole buffer over
      const whole = batch.bytes.byteOffset === 0 && batch.bytes.buffer.byteLength >= batch.bytes.length;
      const bytes = whole ? batch.bytes : Buffer.from(batch.bytes);
      const ab = bytes.buffer as ArrayBuffer;
      port.postMessage({ type: 'batch', id, bytes: ab, length: bytes.length, rows: batch.rows, last: batch.last }, [ab]);
    }
    port.postMessage({ type: 'done', id, cpuSeconds: threadCpuSeconds() });
  } catch (err) {
    port.postMessage({ type: 'error', id, message: (err as Error).message });
  } finally {
    feeds.delete(id);
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'buffer') {
    reuseBatchBuffer(m.bytes);
  } else if (m.type === 'start') {
    // the credit carries the chunk's memory back, for a later chunk
    const feed = new Feed((chunk) => {
      const ab = chunk.buffer as ArrayBuffer;
      port.postMessage({ type: 'credit', id: m.id, bytes: ab }, [ab]);
    });
    feeds.set(m.id, feed);
    void run(m.id, feed, m.options);
  } else if (m.type === 'data') {
    feeds.get(m.id)?.push(Buffer.from(m.chunk, 0, m.length));
  } else if (m.type === 'end') {
    feeds.get(m.id)?.end();
  } else {
    // abort: the reader stopped; the job ends at its next batch, or now if it waits for input
    const feed = feeds.get(m.id);
    feeds.delete(m.id);
    feed?.end();
  }
});
