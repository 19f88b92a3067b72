import { describe, expect, it } from 'vitest';
import { CopyOutFraming } from '../../src/core/postgres/copy-out-framing.js';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import type { EncodeOptions } from '../../src/core/postgres/record-encoder.js';

/** One backend message: type byte, Int32 length (itself included), payload (protocol-message-formats.html). */
function message(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstr = (s: string): string => `${s}\0`;
/** CopyOutResponse for text format with `columns` columns: format 0, count, a 0 per column */
function copyOutResponse(columns: number): Buffer {
  const b = Buffer.alloc(3 + 2 * columns);
  b.writeUInt16BE(columns, 1);
  return message('H', b);
}

/** What PostgreSQL sends for a COPY TO STDOUT: one CopyData per row, asynchronous messages in between. */
function copyOut(rows: readonly string[], options: { notice?: boolean; error?: boolean } = {}) {
  const parts: Buffer[] = [copyOutResponse(2)];
  rows.forEach((row, i) => {
    parts.push(message('d', row));
    if (options.notice && i === 0)
      parts.push(message('N', `${cstr('SNOTICE')}${cstr('Mhello')}\0`), message('S', `${cstr('TimeZone')}${cstr('UTC')}`));
  });
  const tail = options.error
    ? Buffer.concat([message('E', `${cstr('SFATAL')}${cstr('C57P01')}${cstr('Mterminating connection')}\0`)])
    : Buffer.concat([message('c'), message('C', cstr(`COPY ${rows.length}`)), message('Z', 'I')]);
  return { stream: Buffer.concat([...parts, tail]), data: rows.join(''), tail };
}

/** Feeds the pieces as socket reads until the copy ends; returns the data and what pg gets afterwards. */
function feed(pieces: readonly Buffer[]) {
  const framing = new CopyOutFraming();
  const data: Buffer[] = [];
  let i = 0;
  for (; i < pieces.length && framing.state === 'copying'; i++) {
    const chunk = Buffer.from(pieces[i]!); // parse rewrites the chunk in place
    framing.parse(chunk);
    data.push(Buffer.from(chunk.subarray(0, framing.dataLength)));
  }
  const handedBack = Buffer.concat([framing.rest ?? Buffer.alloc(0), ...pieces.slice(i)]);
  return { data: Buffer.concat(data).toString(), state: framing.state, handedBack };
}

const ROWS = ['1\tone\n', '22\ttwo\\ttabs\n', '333\t\\N\n', '4\tünï 😀\n'];

describe('CopyOut framing (the fast reader strips CopyData headers in place)', () => {
  for (const kind of ['done', 'error'] as const) {
    it(`every split point of a CopyOut ending in ${kind === 'done' ? 'CopyDone' : 'an ErrorResponse'}: same rows, pg gets the rest`, () => {
      const { stream, data, tail } = copyOut(ROWS, { notice: true, error: kind === 'error' });
      const expectedBack = kind === 'done' ? tail.subarray(5) : tail; // CopyDone is the reader's; an error is pg's
      for (let a = 0; a <= stream.length; a++) {
        for (let b = a; b <= stream.length; b += 3) {
          const r = feed([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
          const at = `split at ${a} and ${b}`;
          expect(r.state, at).toBe(kind);
          expect(r.data, at).toBe(data);
          expect(r.handedBack.equals(expectedBack), at).toBe(true);
        }
      }
    });
  }

  it('a header split across chunks one byte at a time, and an empty CopyData message', () => {
    const { stream, data } = copyOut(['', ...ROWS]);
    const r = feed([...stream].map((b) => Buffer.from([b])));
    expect(r.state).toBe('done');
    expect(r.data).toBe(data);
  });

  it('a row bigger than 1 MB in 64 kB socket reads starting at every offset around its header: the transcoder gets it whole', async () => {
    const big = `7\t${'x\\n"'.repeat(300_000)}\n`;
    const rows = [...ROWS, big, ...ROWS];
    const { stream } = copyOut(rows);
    const expected = await transcode([Buffer.from(rows.join(''))]);
    // an oracle of its own: the big row decodes whole, after a batch that already holds rows
    const records = expected
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { record: { n: number; t: string } });
    expect(records.map((r) => r.record.n)).toEqual([1, 22, 333, 4, 7, 1, 22, 333, 4]);
    expect(records[4]!.record.t).toBe('x\n"'.repeat(300_000));
    const bigStart = stream.indexOf(Buffer.from(big)) - 5;
    for (let first = bigStart - 12; first <= bigStart + 12; first++) {
      const pieces = [stream.subarray(0, first)];
      for (let at = first; at < stream.length; at += 65_536) pieces.push(stream.subarray(at, at + 65_536));
      const r = feed(pieces);
      expect(r.state).toBe('done');
      expect(r.data.length).toBe(rows.join('').length);
      const framed: Buffer[] = [];
      const framing = new CopyOutFraming();
      for (const p of pieces) {
        const chunk = Buffer.from(p);
        framing.parse(chunk);
        if (framing.dataLength > 0) framed.push(chunk.subarray(0, framing.dataLength));
      }
      expect((await transcode(framed)).equals(expected), `first read of ${first} bytes`).toBe(true);
    }
  });

  it('rejects a message length below 4 (a corrupt stream) instead of looping', () => {
    const bad = Buffer.concat([copyOutResponse(1), Buffer.from([0x64, 0, 0, 0, 2])]);
    expect(() => new CopyOutFraming().parse(bad)).toThrow(/invalid message length/);
  });
});

async function transcode(chunks: Buffer[]): Promise<Buffer> {
  const options: EncodeOptions = {
    stream: 's',
    columns: [
      { name: 'n', kind: 'integer' },
      { name: 't', kind: 'string' },
    ],
    timeExtracted: '2024-01-01T00:00:00.000Z',
    track: [0],
    maxRows: 3,
  };
  async function* source() {
    yield* chunks;
  }
  const out: Buffer[] = [];
  for await (const batch of new CopyTextTranscoder().encode(source(), options)) out.push(Buffer.from(batch.bytes));
  return Buffer.concat(out);
}
