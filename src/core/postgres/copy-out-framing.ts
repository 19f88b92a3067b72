/**
 * The backend messages of a CopyOut (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY),
 * as pg-copy-streams' copy-to.js reads them, but without a Buffer object per message: the payloads
 * of the CopyData messages in a socket chunk are moved to the chunk's start (in place), and the
 * chunk's first `dataLength` bytes are then the COPY output. A message split across chunks (a 64 kB
 * socket read can end mid-header or mid-row; a row can be bigger than a chunk) is carried over in
 * the state below, not by copying.
 */
export const ERROR_RESPONSE = 0x45;
const COPY_DATA = 0x64;
/** Messages that do not end the copy: the server may send them at any time (protocol-flow.html#PROTOCOL-ASYNC). */
const CONTINUING = new Set([
  0x48 /* CopyOutResponse */,
  COPY_DATA,
  0x53 /* ParameterStatus */,
  0x4e /* NoticeResponse */,
  0x41 /* NotificationResponse */,
]);

export type FramingState = 'copying' | 'done' | 'error';

export class CopyOutFraming {
  /** copying: more messages follow; done: CopyDone (or another final message) was read; error: an ErrorResponse starts at `rest` */
  state: FramingState = 'copying';
  /** after `parse`: how many bytes at the start of the chunk are CopyData payload */
  dataLength = 0;
  /** after `parse` in state done or error: the chunk's unread bytes, which belong to pg's own parser */
  rest: Buffer | undefined;
  private code = 0;
  /** payload bytes of the current message still to come (0 between messages) */
  private remaining = 0;
  /** header bytes (type and length) of the next message read so far, when a chunk ended inside one */
  private readonly header = Buffer.alloc(5);
  private headerBytes = 0;
  private inMessage = false;

  /** Reads one socket chunk; overwrites its bytes up to the read position with the CopyData payloads. */
  parse(chunk: Buffer): void {
    const n = chunk.length;
    let r = 0;
    let w = 0;
    this.rest = undefined;
    while (r < n && this.state === 'copying') {
      if (!this.inMessage) {
        if (this.headerBytes === 0 && chunk[r] === ERROR_RESPONSE) {
          // pg parses the error and fails the query (handleError); everything from here is its
          this.state = 'error';
          this.rest = chunk.subarray(r);
          r = n;
          break;
        }
        if (this.headerBytes === 0 && n - r >= 5) {
          this.code = chunk[r]!;
          this.remaining = ((chunk[r + 1]! << 24) | (chunk[r + 2]! << 16) | (chunk[r + 3]! << 8) | chunk[r + 4]!) - 4;
          r += 5;
        } else {
          const k = Math.min(5 - this.headerBytes, n - r);
          chunk.copy(this.header, this.headerBytes, r, r + k);
          this.headerBytes += k;
          r += k;
          if (this.headerBytes < 5) break;
          this.headerBytes = 0;
          this.code = this.header[0]!;
          this.remaining = this.header.readUInt32BE(1) - 4;
        }
        if (this.remaining < 0) throw new Error(`invalid message length in the COPY output (message type ${this.code})`);
        this.inMessage = true;
      }
      const k = Math.min(this.remaining, n - r);
      if (this.code === COPY_DATA && k > 0) {
        if (w !== r) chunk.copyWithin(w, r, r + k);
        w += k;
      }
      r += k;
      this.remaining -= k;
      if (this.remaining === 0) {
        this.inMessage = false;
        // CopyDone, or anything that is not an asynchronous message, ends the copy (as in copy-to.js)
        if (this.code !== COPY_DATA && !CONTINUING.has(this.code)) this.state = 'done';
      }
    }
    this.dataLength = w;
    if (this.state === 'done' && r < n) this.rest = chunk.subarray(r);
  }
}
