import { Readable } from 'node:stream';
import type pg from 'pg';
import { CopyOutFraming } from './copy-out-framing.js';

/** the pg Connection's parts that a CopyOut reader uses (pg's own types do not declare `stream`) */
interface PgConnection {
  readonly stream: NodeJS.ReadableStream;
  query(text: string): void;
}

type DataHandler = (chunk: Buffer) => void;

/**
 * `COPY … TO STDOUT` for the COPY-text transcoder: yields socket chunks whose CopyData framing has been
 * stripped in place (CopyOutFraming), one Buffer per socket read instead of pg-copy-streams' one per
 * row plus a concatenated copy of every byte (0.2 CPU-s of GC per million rows in the bench). It takes
 * the connection's socket from pg the way pg-copy-streams' copy-to.js does: it removes pg's 'data'
 * listener, reads the paused socket only while its consumer wants more (backpressure from stdout to the
 * server), and hands pg the bytes after CopyDone or from an ErrorResponse on, so that pg completes or
 * fails the query as usual. The csv-parse path keeps pg-copy-streams.
 */
export class CopyOutReader extends Readable implements pg.Submittable {
  rowCount = 0;
  private connection: PgConnection | undefined;
  private pgDataHandler: DataHandler | undefined;
  private readonly framing = new CopyOutFraming();
  private wanted = false;
  private forwarding = false;
  private readonly onReadable = (): void => this.forward();

  constructor(private readonly text: string) {
    // object mode: each socket chunk stays one Buffer (a byte-mode Readable concatenates what it buffers);
    // 2 chunks ahead keep the socket busy while the consumer transcodes
    super({ objectMode: true, highWaterMark: 2 });
  }

  submit(connection: pg.Connection): void {
    const conn = connection as unknown as PgConnection;
    this.connection = conn;
    const listeners = conn.stream.listeners('data') as DataHandler[];
    if (listeners.length !== 1) throw new Error(`pg's connection has ${listeners.length} data listeners, expected 1`);
    this.pgDataHandler = listeners[0]!;
    conn.stream.removeListener('data', this.pgDataHandler);
    conn.stream.pause();
    conn.stream.on('readable', this.onReadable);
    conn.query(this.text);
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.wanted || !this.connection || this.destroyed) return;
    this.forwarding = true;
    const stream = this.connection.stream;
    let chunk: Buffer | null;
    while (this.wanted && this.connection && (chunk = stream.read() as Buffer | null) !== null) this.parseChunk(chunk);
    this.forwarding = false;
  }

  private parseChunk(chunk: Buffer): void {
    const framing = this.framing;
    framing.parse(chunk);
    if (framing.state === 'error') {
      // pg parses the ErrorResponse and calls handleError
      this.detach(framing.rest!);
      return;
    }
    if (framing.dataLength > 0) this.wanted = this.push(chunk.subarray(0, framing.dataLength));
    if (framing.state === 'done') {
      this.detach(framing.rest ?? Buffer.alloc(0));
      this.push(null);
    }
  }

  /** Gives the socket back to pg with the bytes it has to parse (CommandComplete, ReadyForQuery, an error). */
  private detach(rest: Buffer): void {
    const connection = this.connection!;
    const handler = this.pgDataHandler!;
    this.connection = undefined;
    this.wanted = false;
    connection.stream.removeListener('readable', this.onReadable);
    connection.stream.on('data', handler);
    handler(rest);
    // pg's handler may pause the socket itself (copy-to.js resumes it on the next tick for the same reason)
    process.nextTick(() => connection.stream.resume());
  }

  /** Called by pg: a server error (after the ErrorResponse was handed back) or a lost connection. */
  handleError(err: Error): void {
    this.destroy(err);
  }

  handleCommandComplete(msg: { text?: string } | undefined): void {
    const match = /COPY (\d+)/.exec(msg?.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {}
}
