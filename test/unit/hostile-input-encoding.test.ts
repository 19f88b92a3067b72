import { describe, expect, it } from 'vitest';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import { CsvRecordEncoder } from '../../src/core/postgres/csv-record-encoder.js';
import { recordSuffix, type EncodeOptions } from '../../src/core/postgres/record-encoder.js';
import { StateError } from '../../src/core/errors.js';
import { parseState } from '../../src/core/singer/state.js';

/**
 * Everything from an input file that reaches the output bytes (a state's version, a catalog's stream
 * and column names) must be a validated number or JSON-encoded: the state's `version` used to be pasted
 * as it was, so `"1,\"record\":{\"id\":666}"` replaced every record and a newline injected whole lines.
 */
const FORGERIES: unknown[] = [
  '1,"record":{"id":666}',
  '1}\n{"type":"RECORD","stream":"t","record":{"id":666}}\n{"x":{',
  '1',
  1.5,
  -1,
  Number.MAX_SAFE_INTEGER + 2,
  true,
  null,
  [1],
  { n: 1 },
  'NaN',
];

const HOSTILE_NAMES = [
  't',
  '"',
  '\\',
  '\n',
  '"},"record":{"id":666},"x":{"',
  '\u0000',
  '\u2028',
  '😀',
  'a\r\nb',
  '</script>',
  "'; DROP TABLE t; --",
];

async function encode(encoder: CopyTextTranscoder | CsvRecordEncoder, data: string, options: EncodeOptions): Promise<string> {
  async function* input(): AsyncGenerator<Buffer> {
    yield Buffer.from(data);
  }
  let out = '';
  for await (const b of encoder.encode(input(), options)) out += Buffer.from(b.bytes).toString('utf8');
  return out;
}

describe('hostile input never reaches the output bytes unencoded', () => {
  it('a state whose bookmark version is not a safe integer is refused (exit 4), naming the path', () => {
    for (const version of FORGERIES) {
      const state = { bookmarks: { 'public-t': { version } } };
      expect(() => parseState(state, 'state.json'), JSON.stringify(version)).toThrow(StateError);
      expect(() => parseState(state, 'state.json')).toThrow(/state\.json is malformed: at \/bookmarks\/public-t\/version/);
    }
    expect(parseState({ bookmarks: { 'public-t': { version: 1700000000000 } } }, 's').bookmarks['public-t']!.version).toBe(1700000000000);
  });

  it('the record suffix refuses a version that is not a safe integer, whoever passes it', () => {
    for (const version of FORGERIES.filter((v) => v !== -1)) {
      expect(() => recordSuffix({ version: version as number, timeExtracted: 'x' }), JSON.stringify(version)).toThrow(/safe integer/);
    }
    expect(recordSuffix({ version: 42, timeExtracted: '"\n' })).toBe('},"version":42,"time_extracted":"\\"\\n"}\n');
  });

  for (const make of [() => new CopyTextTranscoder(), () => new CsvRecordEncoder()]) {
    it(`${make().name}: hostile stream and column names give one valid RECORD line per row with exactly those keys`, async () => {
      for (const stream of HOSTILE_NAMES) {
        const columns = HOSTILE_NAMES.map((n, i) => ({ name: `${n}${i}`, kind: 'string' as const }));
        const encoder = make();
        const row = (i: number) =>
          columns
            .map((_, c) => (encoder.name.includes('csv') ? `"v${i}.${c}"` : `v${i}.${c}`))
            .join(encoder.name.includes('csv') ? ',' : '\t');
        const data = [row(1), row(2)].join('\n') + '\n';
        const out = await encode(encoder, data, {
          stream,
          columns,
          version: 7,
          timeExtracted: '2024-01-01T00:00:00Z',
          track: [],
          maxRows: 100,
        });
        const lines = out.split('\n');
        expect(lines.pop()).toBe('');
        expect(lines).toHaveLength(2);
        for (const [i, line] of lines.entries()) {
          const msg = JSON.parse(line) as Record<string, unknown>;
          expect(Object.keys(msg)).toEqual(['type', 'stream', 'record', 'version', 'time_extracted']);
          expect(msg.stream).toBe(stream);
          expect(msg.version).toBe(7);
          expect(Object.keys(msg.record as object)).toEqual(columns.map((c) => c.name));
          expect((msg.record as Record<string, unknown>)[columns[3]!.name]).toBe(`v${i + 1}.3`);
        }
      }
    });
  }
});
