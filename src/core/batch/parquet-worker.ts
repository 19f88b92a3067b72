/**
 * The thread Parquet files are encoded on (parquet-thread.ts): record lines in, ParquetWriter's files out,
 * so that splitting every value into its column costs the reading thread nothing. Each message about a
 * file is handled, synchronously, after the one before it and answered in order: without an error, or with
 * the one that failed the file.
 */
import { parentPort } from 'node:worker_threads';
import { ParquetWriter } from './parquet-writer.js';
import type { FromParquetThread, ToParquetThread } from './parquet-thread.js';

const writers = new Map<number, ParquetWriter>();
const failures = new Map<number, Error>();

function handle(m: ToParquetThread): void {
  if (m.type === 'open') {
    writers.set(m.id, ParquetWriter.create(m.path, m.columns, m.options));
    return;
  }
  const writer = writers.get(m.id);
  const failed = failures.get(m.id);
  if (m.type === 'finish' || m.type === 'abort' || failed) writers.delete(m.id);
  if (m.type === 'abort' || failed || !writer) {
    writer?.abort();
    if (m.type === 'finish' || m.type === 'abort') failures.delete(m.id);
    if (m.type !== 'abort') throw failed ?? new Error('the Parquet file is not open');
    return;
  }
  if (m.type === 'write' && m.copyText) writer.writeCopyText(Buffer.from(m.bytes, m.offset, m.length));
  else if (m.type === 'write') writer.write(Buffer.from(m.bytes, m.offset, m.length));
  else writer.finish();
}

parentPort!.on('message', (m: ToParquetThread) => {
  let error: string | undefined;
  try {
    handle(m);
  } catch (err) {
    failures.set(m.id, err as Error);
    error = (err as Error).message;
  }
  // a write's buffer goes back for a later write
  if (m.type === 'write')
    parentPort!.postMessage({ id: m.id, error, bytes: m.bytes, batch: m.batch } satisfies FromParquetThread, [m.bytes]);
  else parentPort!.postMessage({ id: m.id, error } satisfies FromParquetThread);
});
