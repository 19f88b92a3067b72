import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCounter, LineCounter } from '../../bench/line-counter.js';
import { median } from '../../bench/measure.js';
import { selectTable } from '../../bench/contenders.js';

/**
 * The benchmark's row counts come from this counter (never assumed), so it must count RECORD lines
 * exactly however the output is cut into chunks, for both JSON styles the taps write.
 */
const compact = (i: number) => JSON.stringify({ type: 'RECORD', stream: 's', record: { i, note: '{"type":"RECORD"}' } });
const spaced = (i: number) => `{"type": "RECORD", "stream": "s", "record": {"i": ${i}}}`;
const state = (i: number) => JSON.stringify({ type: 'STATE', value: { bookmarks: { s: { n: i } } } });

function feed(text: string, cuts: number[]): LineCounter {
  const bytes = Buffer.from(text);
  const counter = new LineCounter();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    counter.push(bytes.subarray(from, cut));
    from = cut;
  }
  return counter;
}

describe('bench LineCounter', () => {
  const lines = [
    '{"type":"SCHEMA","stream":"s"}',
    compact(1),
    spaced(2),
    state(1),
    compact(3),
    '{"type":"ACTIVATE_VERSION"}',
    state(2),
    'x',
    '',
  ];
  const text = lines.join('\n') + '\n';

  it('counts lines, RECORD lines and bytes, and keeps the last STATE, at every cut of the output', () => {
    for (let a = 0; a <= text.length; a += 3) {
      for (const b of [a, a + 1, a + 17, a + 40]) {
        const c = feed(
          text,
          [a, Math.min(b, text.length)].sort((x, y) => x - y),
        );
        expect([c.lines, c.records, c.bytes]).toEqual([lines.length, 3, Buffer.byteLength(text)]);
        expect(c.lastState).toBe(state(2));
      }
    }
  });

  it('counts one byte at a time as a whole', () => {
    const c = feed(
      text,
      Array.from({ length: text.length }, (_, i) => i),
    );
    expect([c.lines, c.records]).toEqual([lines.length, 3]);
    expect(c.lastState).toBe(state(2));
  });

  it('does not count a psql COPY text row or a record-looking value inside a line', () => {
    const c = feed('2024-01-01 00:00:00+00\t1\t{"type":"RECORD"}\nR\n', [5]);
    expect([c.lines, c.records]).toEqual([2, 0]);
  });

  // the bench counts with the C counter when a compiler exists: it must give LineCounter's answers
  const dir = mkdtempSync(join(tmpdir(), 'count-lines-'));
  const native = buildCounter(dir, join(import.meta.dirname, '../../bench/count-lines.c')).binary;
  it.skipIf(!native)('count-lines.c counts as LineCounter does, for every read size (skipped: no C compiler)', () => {
    const texts = [text, '2024-01-01 00:00:00+00\t1\t{"type":"RECORD"}\nR\n', 'no newline at the end', ''];
    texts.forEach((input, t) => {
      const expected = feed(input, []);
      for (const block of [1, 2, 3, 7, 17, 40, 1 << 20]) {
        const stateFile = join(dir, `state-${t}-${block}`);
        const out = execFileSync(native!, [stateFile, String(block)], { input })
          .toString()
          .trim();
        expect(out, `block ${block}`).toBe(`${expected.lines} ${expected.records} ${expected.bytes}`);
        expect(existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : undefined).toBe(expected.lastState);
      }
    });
  });

  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe('bench selectTable', () => {
  const catalog = () => ({
    streams: ['a', 'b'].map((t) => ({
      tap_stream_id: `s-${t}`,
      table_name: t,
      metadata: [
        { breadcrumb: [], metadata: { 'schema-name': 's', selected: true } as Record<string, unknown> },
        { breadcrumb: ['properties', 'x'], metadata: { inclusion: 'available' } as Record<string, unknown> },
        { breadcrumb: ['properties', 'y'], metadata: { inclusion: 'unsupported' } as Record<string, unknown> },
      ],
    })),
  });

  it('selects only the named table, with its method and readable columns', () => {
    const out = selectTable(catalog(), 's.b', 'INCREMENTAL', 'x');
    expect(out.streams.map((s) => s.metadata[0]!.metadata.selected)).toEqual([false, true]);
    expect(out.streams[1]!.metadata.map((m) => m.metadata.selected)).toEqual([true, true, undefined]);
    expect(out.streams[1]!.metadata[0]!.metadata).toMatchObject({ 'replication-method': 'INCREMENTAL', 'replication-key': 'x' });
  });

  it('names the streams it has when the table is missing', () => {
    expect(() => selectTable(catalog(), 't.b', 'FULL_TABLE')).toThrow(/no stream for t\.b .*s-a, s-b/);
  });
});
