import type { Writable } from 'node:stream';
import { OutputClosedError } from '../errors.js';
import type { SingerMessage } from './messages.js';
import { releaseBatchBuffer } from './output-buffers.js';

/**
 * The one owner of stdout. Messages are serialized one per line and written in large buffers;
 * `write` waits for 'drain' when the consumer is slow (backpressure), and a closed pipe (EPIPE)
 * turns into OutputClosedError instead of a crash.
 */
export class MessageWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closedError: Error | undefined;
  private drainWaiters: (() => void)[] = [];
  /** settles when the stream has handed the last chunk to the OS (a pipe can hold it in user space) */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Bytes handed to the stream so far (for metrics). */
  bytesWritten = 0;

  constructor(
    private readonly out: Writable,
    private readonly flushAt = 256 * 1024,
  ) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      this.closedError = err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' ? new OutputClosedError() : err;
      this.wake();
    });
    out.on('close', () => {
      this.closedError ??= new OutputClosedError();
      this.wake();
    });
    out.on('drain', () => this.wake());
  }

  /** Serializes one message as a line. Call `flush` (or keep writing) to push it out. */
  async write(message: SingerMessage): Promise<void> {
    await this.writeBytes(Buffer.from(JSON.stringify(message) + '\n', 'utf8'));
  }

  /** Writes bytes that already hold complete message lines (the fast record encoders' output). */
  async writeBytes(bytes: Buffer): Promise<void> {
    this.check();
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= this.flushAt) await this.flush();
  }

  /** Hands everything buffered to the stream and waits while the stream is over its high-water mark. */
  async flush(): Promise<void> {
    this.check();
    if (this.pendingBytes > 0) {
      const pieces = this.pending;
      const chunk = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.pendingBytes);
      // batch buffers go back to the transcoder once nothing reads them: after the copy, or once written
      if (pieces.length > 1) for (const p of pieces) releaseBatchBuffer(p);
      this.pending = [];
      this.bytesWritten += this.pendingBytes;
      this.pendingBytes = 0;
      let ok = true;
      this.lastWrite = new Promise((resolve) => {
        ok = this.out.write(chunk, () => {
          if (pieces.length === 1) releaseBatchBuffer(chunk);
          resolve();
        });
      });
      if (!ok) await this.waitForDrain();
    }
    this.check();
  }

  /**
   * Flushes and waits until the stream has handed everything to the OS. Call before the process
   * exits: `process.exit` drops what a piped stdout still buffers (nodejs/node#6456), which lost the
   * final STATE now and then when the target read slowly.
   */
  async end(): Promise<void> {
    await this.flush();
    await Promise.race([this.lastWrite, new Promise<void>((resolve) => this.drainWaiters.push(resolve))]);
    this.check();
  }

  /**
   * Stops all output at once (a second SIGTERM) without cutting a line: nothing more is handed to the
   * stream (a later write or flush throws `reason`), and the promise settles once the chunk already
   * handed over is out, or the stream is gone. process.exit before that left half a line on stdout.
   */
  seal(reason: Error): Promise<void> {
    this.closedError ??= reason;
    this.pending = [];
    this.pendingBytes = 0;
    this.wake(); // a write waiting for 'drain' now throws `reason`, and the sync stops
    const gone = new Promise<void>((resolve) => {
      if (this.out.destroyed) resolve();
      this.out.once('close', () => resolve());
      this.out.once('error', () => resolve());
    });
    return Promise.race([this.lastWrite, gone]);
  }

  private waitForDrain(): Promise<void> {
    if (this.closedError) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private check(): void {
    if (this.closedError) throw this.closedError;
  }
}
