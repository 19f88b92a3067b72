/**
 * The thread JSONL gzip members are compressed and written on (gzip-thread.ts): each message is one member,
 * compressed at level 1 and written to the file's descriptor before the next message is read, so a file's
 * members land in the order they were sent. Every message is answered, in order: without an error, or with
 * the one that failed it (the file is then discarded by the reading thread).
 */
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { FromGzipThread, ToGzipThread } from './gzip-thread.js';
import { MEMBER_BYTES } from './durable-file.js';
import { GZIP_OPTIONS, GzipEngine } from './gzip-engine.js';

/** one deflate state for every member; a member of MEMBER_BYTES (a batch buffer's size too) always fits its output buffer */
const engine = new GzipEngine(GZIP_OPTIONS, MEMBER_BYTES + 64 * 1024);

parentPort!.on('message', (m: ToGzipThread) => {
  let error: string | undefined;
  try {
    const member = engine.compress(new Uint8Array(m.piece, 0, m.length));
    for (let at = 0; at < member.length;) at += writeSync(m.fd, member, at);
  } catch (err) {
    error = (err as Error).message;
  }
  if (m.batch) parentPort!.postMessage({ error, batch: m.piece as ArrayBuffer } satisfies FromGzipThread, [m.piece as ArrayBuffer]);
  else parentPort!.postMessage({ error } satisfies FromGzipThread);
});
