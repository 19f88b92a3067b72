/**
 * The 1 MB buffers that the COPY-text transcoder fills with RECORD lines, reused once stdout is done
 * with them. A fresh 1 MB buffer per batch is an mmap'd block, page-faulted in as it is filled and
 * unmapped only when a GC finds it dead: the tap's RSS grew with the table (106 MB at 1M rows, 143 MB
 * at 20M) though its heap stayed at 9 MB. Only the message writer gives buffers back, from the write
 * callback, when the stream no longer holds them.
 */
export const BATCH_BYTES = 1024 * 1024;
/**
 * stdout holds one batch while the transcoder fills the next; a few spare cover concurrent chunk readers, and
 * the batches a BATCH file's thread holds (2 in flight) until it gives them back: with 4, a JSONL gzip run of
 * the bench's hypertable dropped 78 and allocated 82 (8: 2 and 10)
 */
const KEEP = 8;
const free: Buffer[] = [];
const ours = new WeakSet<ArrayBufferLike>();
/** batch buffers another thread lent (a transcode worker's), and how each goes back to it */
const lenders = new WeakMap<ArrayBufferLike, (buffer: ArrayBuffer) => void>();

/** A batch buffer: a spare one if any, else a new one. */
export function takeBatchBuffer(): Buffer {
  const spare = free.pop();
  if (spare) return spare;
  const b = Buffer.allocUnsafeSlow(BATCH_BYTES);
  ours.add(b.buffer);
  return b;
}

/**
 * Hands back the buffer under `bytes` (any part of a batch buffer) when nothing reads it any more.
 * Bytes that are not from takeBatchBuffer are ignored, and so is a second release of the same buffer.
 */
export function releaseBatchBuffer(bytes: Buffer): void {
  const ab = bytes.buffer;
  // moved to another thread (movableBatchBuffer), which gives it back with reuseBatchBuffer
  if (ab.byteLength === 0) return;
  const giveBack = lenders.get(ab);
  if (giveBack) {
    lenders.delete(ab);
    giveBack(ab as ArrayBuffer);
    return;
  }
  if (!ours.has(ab) || free.length >= KEEP || free.some((b) => b.buffer === ab)) return;
  free.push(Buffer.from(ab, 0, BATCH_BYTES));
}

/**
 * The whole buffer under `bytes` when `bytes` are the start of a batch buffer of this thread's (not one a
 * worker lent): a thread it is moved to, instead of copied, gives it back with reuseBatchBuffer.
 */
export function movableBatchBuffer(bytes: Buffer): ArrayBuffer | undefined {
  const ab = bytes.buffer;
  if (bytes.byteOffset !== 0 || ab.byteLength !== BATCH_BYTES || !ours.has(ab) || lenders.has(ab)) return undefined;
  return ab as ArrayBuffer;
}

/**
 * Marks the buffer under `bytes`, a batch buffer that a transcode worker transferred here, as going back
 * to that worker (by `giveBack`, a transfer) when it is released, instead of being dropped: without this,
 * each worker's batch was a fresh 1 MB buffer, page-faulted in and freed by the GC (1.8 CPU-s of GC
 * threads for 5M rows, twice what the same rows cost without workers).
 */
export function lendBatchBuffer(bytes: Buffer, giveBack: (buffer: ArrayBuffer) => void): void {
  if (bytes.buffer.byteLength === BATCH_BYTES) lenders.set(bytes.buffer, giveBack);
}

/** Takes back a batch buffer lent with lendBatchBuffer (in the worker thread that made it) for the next batch. */
export function reuseBatchBuffer(buffer: ArrayBuffer): void {
  if (buffer.byteLength !== BATCH_BYTES || free.length >= KEEP) return;
  ours.add(buffer);
  free.push(Buffer.from(buffer));
}
