import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import type { EncodeOptions } from '../../src/core/postgres/record-encoder.js';

/** COPY text rows (already escaped, tab-separated) through the transcoder as one chunk: the RECORD lines. */
export async function transcodeRows(rows: string[][], options: EncodeOptions): Promise<string> {
  const input = Buffer.from(rows.map((r) => r.join('\t') + '\n').join(''), 'utf8');
  const parts: Buffer[] = [];
  async function* one() {
    yield input;
  }
  for await (const b of new CopyTextTranscoder().encode(one(), options)) parts.push(Buffer.from(b.bytes));
  return Buffer.concat(parts).toString('utf8');
}
