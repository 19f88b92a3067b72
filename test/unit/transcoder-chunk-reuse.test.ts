import { describe, expect, it } from 'vitest';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import type { EncodeOptions } from '../../src/core/postgres/record-encoder.js';

const options: EncodeOptions = {
  stream: 's',
  columns: [
    { name: 'n', kind: 'integer' },
    { name: 't', kind: 'string' },
    { name: 'ts', kind: 'timestamptz' },
  ],
  timeExtracted: '2024-01-01T00:00:00.000Z',
  track: [2],
  maxRows: 7,
};

/** COPY text rows; every 5th has a NULL ts (never a bookmark), one is longer than any chunk below. */
function copyText(): Buffer {
  const rows: string[] = [];
  for (let i = 0; i < 300; i++) {
    const ts = i % 5 === 4 ? '\\N' : `2024-01-01 00:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(3, '0')}+00`;
    const text = i === 150 ? 'x'.repeat(500) : `row ${i}\\tü`;
    rows.push(`${i}\t${text}\t${ts}\n`);
  }
  return Buffer.from(rows.join(''));
}

type Out = { bytes: string; rows: number; last?: readonly string[] }[];

/** The transcoder's batches when the input comes in `size`-byte chunks, each a fresh buffer. */
async function fresh(input: Buffer, size: number): Promise<Out> {
  async function* chunks() {
    for (let at = 0; at < input.length; at += size) yield Buffer.from(input.subarray(at, at + size));
  }
  return collect(chunks());
}

/**
 * The same chunks, all in ONE buffer that is overwritten (with garbage, then the next chunk) as soon as
 * the transcoder asks for the next: what a transcode worker does when it gives a chunk's memory back.
 */
async function reused(input: Buffer, size: number): Promise<Out> {
  const scratch = Buffer.alloc(size);
  async function* chunks() {
    for (let at = 0; at < input.length; at += size) {
      scratch.fill(0x7e);
      const n = input.copy(scratch, 0, at, at + size);
      yield scratch.subarray(0, n);
    }
    scratch.fill(0x7e);
  }
  return collect(chunks());
}

async function collect(source: AsyncIterable<Buffer>): Promise<Out> {
  const out: Out = [];
  for await (const b of new CopyTextTranscoder().encode(source, options))
    out.push({ bytes: b.bytes.toString(), rows: b.rows, last: b.last });
  return out;
}

/**
 * The transcoder holds no view of an input chunk once it asks for the next one (a row split across
 * chunks and the last bookmarkable row are copies), so transcode-worker.ts may hand a chunk's memory back
 * to the reading thread for reuse. A view kept would read the next chunk's bytes, or garbage.
 */
describe('the transcoder keeps no view of a chunk it is done with', () => {
  it.each([7, 64, 333, 1024])('chunks of %i bytes in one reused buffer: the same batches and bookmarks as fresh ones', async (size) => {
    const input = copyText();
    const expected = await fresh(input, size);
    expect(expected.reduce((n, b) => n + b.rows, 0)).toBe(300);
    expect(expected.at(-1)!.last).toEqual(['"2024-01-01T00:00:58.298Z"']);
    expect(await reused(input, size)).toEqual(expected);
  });
});
