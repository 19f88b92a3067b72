import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyTextRows } from '../../src/core/postgres/copy-text-rows.js';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import type { EncodeOptions, RecordBatch } from '../../src/core/postgres/record-encoder.js';

/**
 * COPY text rows on their way to a Parquet file (RowForm `copy-text`) must be cut and bookmarked like the
 * RECORD lines of the same COPY: the same rows per batch (STATE follows every N rows) and the same last
 * bookmarkable values (a NULL, infinity or BC key never becomes a bookmark), whatever the socket chunks.
 */
async function* chunks(input: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => x % (input.length + 1)))].sort((a, b) => a - b)) {
    yield input.subarray(at, c);
    at = c;
  }
  yield input.subarray(at);
}

async function all(batches: AsyncGenerator<RecordBatch>): Promise<RecordBatch[]> {
  const out: RecordBatch[] = [];
  for await (const b of batches) out.push({ ...b, bytes: Buffer.from(b.bytes) });
  return out;
}

const key = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 1e6 }).map(String) }, { weight: 1, arbitrary: fc.constant('\\N') });
const ts = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .integer({ min: 0, max: 4e9 })
      .map((s) => new Date(s * 1000).toISOString().replace('T', ' ').replace('Z', '+00').replace('.000', '')),
  },
  { weight: 1, arbitrary: fc.constantFrom('\\N', 'infinity', '0044-03-15 12:00:00+00 BC') },
);

describe('COPY text rows for a Parquet file', () => {
  it('come in the batches, with the bookmarks, of the RECORD lines of the same COPY', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            key,
            ts,
            fc.string().map((s) => s.replace(/[\\\t\n]/g, ' ')),
          ),
          { minLength: 1, maxLength: 60 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 9 }),
        fc.subarray([0, 1]),
        async (rows, cuts, maxRows, track) => {
          const input = Buffer.from(rows.map((r) => r.join('\t') + '\n').join(''));
          const options: EncodeOptions = {
            stream: 's',
            columns: [
              { name: 'id', kind: 'integer' },
              { name: 'ts', kind: 'timestamptz' },
              { name: 'note', kind: 'string' },
            ],
            timeExtracted: 't',
            track,
            maxRows,
          };
          const lines = await all(new CopyTextTranscoder().encode(chunks(input, cuts), options));
          const copy = await all(copyTextRows(chunks(input, cuts), options));
          expect(copy.map((b) => [b.rows, b.last])).toEqual(lines.map((b) => [b.rows, b.last]));
          expect(copy.every((b) => b.form === 'copy-text')).toBe(true);
          expect(Buffer.concat(copy.map((b) => b.bytes)).equals(input)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fails a COPY that ends in the middle of a row', async () => {
    const options: EncodeOptions = { stream: 's', columns: [{ name: 'id', kind: 'integer' }], timeExtracted: 't', track: [], maxRows: 10 };
    await expect(all(copyTextRows(chunks(Buffer.from('1\n2'), [1]), options))).rejects.toThrow('COPY output ended in the middle of a row');
  });
});
