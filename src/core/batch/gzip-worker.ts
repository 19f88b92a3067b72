/**
 * The thread JSONL gzip members are compressed and written on (gzip-thread.ts): each message is one member,
 * compressed at level 1 and written to the file's descriptor before the next message is read, so a file's
 * members land in the order they were sent. Every message is answered, in order: without an error, or with
 * the one that failed it (the file is then discarded by the reading thread).
 */
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { constants, createGzip, gzipSync } from 'node:zlib';
import { GZIP_OPTIONS, type FromGzipThread, type ToGzipThread } from './gzip-thread.js';
import { MEMBER_BYTES } from './durable-file.js';

/** What `zlib.gzipSync` itself calls on a zlib stream (Node's lib/zlib.js), not part of its documented API. */
interface ZlibInternals {
  _handle?: { writeSync?: (flush: number, i: Uint8Array, inOff: number, inLen: number, o: Buffer, outOff: number, outLen: number) => void };
  _writeState?: Uint32Array;
  reset(): void;
}

/**
 * One deflate state for every member, reset between them, and one output buffer: `gzipSync` makes a zlib
 * stream, its deflate state and a 512 KiB output buffer per member, which this thread's GC frees only when
 * their external memory reaches V8's limit. Reused, the same bytes cost less memory: the tap's peak RSS on the
 * bench's hypertable was 141–145 MB in three runs, 153 MB with `gzipSync` (the thread alone, compressing 850
 * members: 18 against 35 MB). A member of
 * MEMBER_BYTES always fits `out` (deflate's bound is 5 bytes per 16 KiB stored block, plus the header and
 * trailer); a Node whose zlib streams lack these internals gets `gzipSync`. A member the reused state
 * cannot compress whole fails its file, never falls back silently (a test would not see the reuse break).
 */
type Engine = ReturnType<typeof createGzip> & ZlibInternals;
function newEngine(): Engine {
  const e = createGzip(GZIP_OPTIONS) as Engine;
  // a zlib error closes the stream (compress() then fails the member) and is emitted on the next tick
  e.on('error', () => undefined);
  return e;
}
let engine = newEngine();
const out = Buffer.allocUnsafeSlow(MEMBER_BYTES + 64 * 1024);
const reusable = typeof engine._handle?.writeSync === 'function' && engine._writeState instanceof Uint32Array;

function compress(input: Uint8Array): Uint8Array {
  if (!reusable) return gzipSync(input, GZIP_OPTIONS);
  // after a failure the stream is closed: the next file's members get a new one
  if (!engine._handle) engine = newEngine();
  engine._handle!.writeSync!(constants.Z_FINISH, input, 0, input.length, out, 0, out.length);
  const [outLeft, inLeft] = engine._writeState!;
  if (!engine._handle) throw new Error('zlib failed to compress a member (its stream closed)');
  if (inLeft !== 0 || outLeft === 0) {
    engine.close();
    throw new Error(`zlib left ${inLeft} of a member's ${input.length} bytes uncompressed`);
  }
  engine.reset();
  return out.subarray(0, out.length - outLeft!);
}

parentPort!.on('message', (m: ToGzipThread) => {
  let error: string | undefined;
  try {
    const member = compress(new Uint8Array(m.piece, 0, m.length));
    for (let at = 0; at < member.length;) at += writeSync(m.fd, member, at);
  } catch (err) {
    error = (err as Error).message;
  }
  parentPort!.postMessage({ error } satisfies FromGzipThread);
});
