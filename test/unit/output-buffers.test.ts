import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MessageWriter } from '../../src/core/singer/message-writer.js';
import {
  BATCH_BYTES,
  lendBatchBuffer,
  releaseBatchBuffer,
  reuseBatchBuffer,
  takeBatchBuffer,
} from '../../src/core/singer/output-buffers.js';

/** A stream that holds each write until `release()` is called, like a pipe whose reader is slow. */
function slowStream() {
  const held: (() => void)[] = [];
  const written: string[] = [];
  const stream = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      held.push(done);
    },
  });
  return { stream, written, release: () => held.splice(0).forEach((d) => d()) };
}

describe('batch buffers reused only once stdout is done with them', () => {
  it('a buffer goes back after its write completes, not before; a second release is ignored', async () => {
    const { stream, written, release } = slowStream();
    const writer = new MessageWriter(stream, 1);
    const a = takeBatchBuffer();
    a.write('line a\n');
    const writing = writer.writeBytes(a.subarray(0, 7));
    const b = takeBatchBuffer();
    expect(b.buffer).not.toBe(a.buffer); // stdout still holds a
    release();
    await writing;
    releaseBatchBuffer(a); // a stale second release must not put it in the pool twice
    const c = takeBatchBuffer();
    const d = takeBatchBuffer();
    expect(c.buffer).toBe(a.buffer);
    expect(d.buffer).not.toBe(a.buffer);
    expect(written).toEqual(['line a\n']);
    expect(c.length).toBe(BATCH_BYTES);
  });

  it('ignores buffers that are not batch buffers', () => {
    const foreign = Buffer.alloc(BATCH_BYTES);
    releaseBatchBuffer(foreign);
    expect(takeBatchBuffer().buffer).not.toBe(foreign.buffer);
  });

  it("a transcode worker's batch goes back to it once stdout is done with it, once, and the worker reuses it", async () => {
    const { stream, release } = slowStream();
    const writer = new MessageWriter(stream, 1);
    // what the reading thread gets from a worker: a transferred 1 MB buffer, lent
    const lent = Buffer.allocUnsafeSlow(BATCH_BYTES);
    lent.write('line w\n');
    const back: ArrayBuffer[] = [];
    lendBatchBuffer(lent, (ab) => back.push(ab));
    const writing = writer.writeBytes(lent.subarray(0, 7));
    expect(back).toEqual([]); // stdout still holds it
    release();
    await writing;
    expect(back).toEqual([lent.buffer]);
    releaseBatchBuffer(lent); // a second release neither gives it back again nor pools it here
    expect(back).toHaveLength(1);
    expect(takeBatchBuffer().buffer).not.toBe(lent.buffer);
    // a buffer of another size is never lent (a batch grown for one big row): the GC frees it
    const big = Buffer.allocUnsafeSlow(BATCH_BYTES * 2);
    lendBatchBuffer(big, (ab) => back.push(ab));
    releaseBatchBuffer(big);
    expect(back).toHaveLength(1);
    // in the worker: the buffer back is the next batch's
    const returned = new ArrayBuffer(BATCH_BYTES);
    reuseBatchBuffer(returned);
    expect(takeBatchBuffer().buffer).toBe(returned);
  });
});
