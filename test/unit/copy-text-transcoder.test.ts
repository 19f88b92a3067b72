import { describe, expect, it } from 'vitest';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import { CsvRecordEncoder } from '../../src/core/postgres/csv-record-encoder.js';
import { recordPrefix, recordSuffix, type EncodeOptions } from '../../src/core/postgres/record-encoder.js';
import type { ValueKind } from '../../src/core/postgres/type-mapping.js';
import { jsonValueText } from '../../src/core/postgres/value-json.js';

/** PostgreSQL's COPY text escaping (CopyAttributeOutText): backslash, and \b \f \n \r \t \v as escapes. */
function copyText(value: string): string {
  return value.replace(
    /[\\\b\f\n\r\t\v]/g,
    (c) => ({ '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' })[c]!,
  );
}

/** CSV with FORCE_QUOTE *: every non-NULL value quoted, quotes doubled. */
function copyCsv(value: string | null): string {
  return value === null ? '' : `"${value.replace(/"/g, '""')}"`;
}

// a small deterministic PRNG, so a failure can be replayed
function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

const NASTY = [
  '',
  ' ',
  '"',
  '\\',
  '\\N',
  'N',
  '\t',
  '\n',
  '\r\n',
  '\b\f\v',
  '\u0001\u001f',
  'ünïcödé',
  '😀 emoji',
  '\u2028\u2029',
  '{"a":1}',
  'a,b',
  "it's",
  '\u007f',
];
const KINDS: [ValueKind, (r: () => number) => string][] = [
  ['integer', (r) => String(Math.floor((r() - 0.5) * 1e6)) + (r() < 0.1 ? '123456789012345678' : '')],
  [
    'number',
    (r) => (r() < 0.1 ? ['NaN', 'Infinity', '-Infinity'][Math.floor(r() * 3)]! : r() < 0.5 ? (r() * 1e6).toFixed(6) : String(r() * 1e300)),
  ],
  ['boolean', (r) => (r() < 0.5 ? 't' : 'f')],
  ['string', (r) => Array.from({ length: Math.floor(r() * 5) }, () => NASTY[Math.floor(r() * NASTY.length)]).join(r() < 0.5 ? 'x' : '')],
  ['json', (r) => (r() < 0.5 ? `{"k": [1, 2, {"s": "a\\"b\\\\c\\nd"}], "u": "ü"}` : `{\n  "pretty": true,\n\t"n": null\n}`)],
  [
    'timestamptz',
    (r) =>
      r() < 0.1
        ? 'infinity'
        : `2024-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)} 1${Math.floor(r() * 9)}:0${Math.floor(r() * 9)}:59${r() < 0.5 ? '.' + String(Math.floor(r() * 999999)).padStart(6, '0') : ''}+00`,
  ],
  ['timestamp', (r) => (r() < 0.1 ? '0044-03-15 12:00:00 BC' : `2024-12-31 23:59:5${Math.floor(r() * 9)}${r() < 0.5 ? '.5' : ''}`)],
  ['date', (r) => (r() < 0.1 ? '-infinity' : r() < 0.1 ? '10000-01-01' : `2024-02-2${Math.floor(r() * 9)}`)],
  [
    'bytea',
    (r) =>
      '\\x' +
      Array.from({ length: Math.floor(r() * 6) }, () =>
        Math.floor(r() * 256)
          .toString(16)
          .padStart(2, '0'),
      ).join(''),
  ],
];

async function collect(gen: AsyncGenerator<{ bytes: Buffer; rows: number; last?: readonly string[] }>) {
  const parts: Buffer[] = [];
  let rows = 0;
  let last: readonly string[] | undefined;
  for await (const b of gen) {
    parts.push(Buffer.from(b.bytes));
    rows += b.rows;
    last = b.last;
  }
  return { text: Buffer.concat(parts).toString('utf8'), rows, last };
}

async function* chunked(data: Buffer, sizes: () => number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length;) {
    const n = Math.max(1, sizes());
    yield data.subarray(i, i + n);
    i += n;
  }
}

describe('the COPY-text transcoder produces exactly the reference JSON', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`matches jsonValueText and the csv-parse encoder on fuzzed rows split at random points (seed ${seed})`, async () => {
      const r = rng(seed);
      const columns = KINDS.map(([kind], i) => ({ name: `c${i} "${kind}"\t`, kind }));
      const rows: (string | null)[][] = Array.from({ length: 400 }, () => KINDS.map(([, gen]) => (r() < 0.1 ? null : gen(r))));
      // one row much larger than a 64 kB network chunk
      rows.push(KINDS.map(([kind, gen]) => (kind === 'string' ? 'ü\t"\\'.repeat(40000) : gen(r))));
      const options: EncodeOptions = {
        stream: 'the "stream"',
        columns,
        version: 7,
        timeExtracted: '2024-01-01T00:00:00.000Z',
        track: [0, 5],
        maxRows: 97,
      };
      const expected = rows
        .map(
          (row) =>
            recordPrefix(options.stream) +
            row
              .map(
                (v, i) =>
                  `${i === 0 ? '' : ','}${JSON.stringify(columns[i]!.name)}:${v === null ? 'null' : jsonValueText(columns[i]!.kind, v)}`,
              )
              .join('') +
            recordSuffix(options),
        )
        .join('');
      const text = Buffer.from(rows.map((row) => row.map((v) => (v === null ? '\\N' : copyText(v))).join('\t') + '\n').join(''), 'utf8');
      const csv = Buffer.from(rows.map((row) => row.map(copyCsv).join(',') + '\n').join(''), 'utf8');

      const fast = await collect(
        new CopyTextTranscoder().encode(
          chunked(text, () => Math.floor(r() * 70000)),
          options,
        ),
      );
      expect(fast.rows).toBe(rows.length);
      expect(fast.text).toBe(expected);
      const general = await collect(
        new CsvRecordEncoder().encode(
          chunked(csv, () => Math.floor(r() * 70000)),
          options,
        ),
      );
      expect(general.text).toBe(expected);
      expect(fast.last).toEqual(general.last);
      for (const line of fast.text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    });
  }

  it('turns every timestamp that is not plain ISO into what jsonValueText gives (the digits and separators are checked while copied)', async () => {
    const values = [
      '2024-01-01 10:00:00+00',
      '2024-01-01 10:00:00.123456+00',
      '2024-01-01 10:00:00',
      '2024-01-01 10:00:00.5',
      '2024-01-01 10:00:00.+00',
      '2024-01-01 10:00:00+05:30',
      '2024-01-01 10:00:00.5+01',
      '2024-01-01T10:00:00+00',
      '2024-01-01 10:0a:00+00',
      '2024/01-01 10:00:00+00',
      '2024-01-01 10:00:00.12a4+00',
      '2024-01-01 10:00:0',
      '12345-01-01 10:00:00+00',
      '2024-01-01 10:00:00 BC',
      'infinity',
      '+00',
      '',
      ':024-01-01 10:00:00+00',
      '2024-01-01 10:00:00/+00',
    ];
    for (const kind of ['timestamptz', 'timestamp'] as const) {
      const options: EncodeOptions = { stream: 's', columns: [{ name: 't', kind }], timeExtracted: 't', track: [], maxRows: 1000 };
      const got = await collect(
        new CopyTextTranscoder().encode(
          chunked(Buffer.from(values.map((v) => `${v}\n`).join('')), () => 7),
          options,
        ),
      );
      expect(got.text).toBe(values.map((v) => `${recordPrefix('s')}"t":${jsonValueText(kind, v)}${recordSuffix(options)}`).join(''));
    }
  });

  it("matches jsonValueText on the issue's data: fractional seconds, offsets, infinities, 17-digit doubles, exponents, NaN", async () => {
    const columns = [
      { name: 'ts', kind: 'timestamptz' as const },
      { name: 'v', kind: 'number' as const },
      { name: 's', kind: 'string' as const },
      { name: 'j', kind: 'json' as const },
    ];
    const ts = [
      '2024-01-01 10:00:00.123+00',
      '2024-01-01 10:00:00.1+00',
      '2024-01-01 10:00:00.123456+00',
      '2024-01-01 10:00:00.123456-05',
      '2024-01-01 10:00:00-08',
      '2024-01-01 10:00:00.5-03:30',
      'infinity',
      '-infinity',
      '2024-01-01 10:00:00.123456',
    ];
    const numbers = [
      '133.00805900414227',
      '-0.12345678901234568',
      '1.7976931348623157e+308',
      '-2.2250738585072014e-308',
      '5e-324',
      '1e+100',
      'NaN',
      'Infinity',
      '-Infinity',
      '12345678901234567890.123456789',
    ];
    const strings = ['device-1/room 1', '', '\\N', 'N', 'a"b\\c', 'ü\t', 'x\ny'];
    const jsons = ['{"n": 0, "fw": "v1.0", "ok": true}', '[]', '"\\\\"', '{"a": "b\\"c"}', '{\n  "p": 1\n}'];
    const rows: (string | null)[][] = [];
    for (let i = 0; i < 60; i++)
      rows.push([ts[i % ts.length]!, numbers[i % numbers.length]!, strings[i % strings.length]!, jsons[i % jsons.length]!]);
    rows.push([null, null, null, null]);
    rows.push([null, null, null, 'null']);
    const options: EncodeOptions = { stream: 's', columns, timeExtracted: 't', track: [0], maxRows: 1000 };
    const expected = rows
      .map(
        (row) =>
          recordPrefix('s') +
          row
            .map(
              (v, i) =>
                `${i === 0 ? '' : ','}${JSON.stringify(columns[i]!.name)}:${v === null ? 'null' : jsonValueText(columns[i]!.kind, v)}`,
            )
            .join('') +
          recordSuffix(options),
      )
      .join('');
    const text = Buffer.from(rows.map((row) => row.map((v) => (v === null ? '\\N' : copyText(v))).join('\t') + '\n').join(''));
    for (const size of [1, 5, 64, 100_000]) {
      const got = await collect(
        new CopyTextTranscoder().encode(
          chunked(text, () => size),
          options,
        ),
      );
      expect(got.text).toBe(expected);
    }
  });

  it('writes malformed escapes (a backslash before a TAB or the row end, never in PostgreSQL output) as it always did', async () => {
    const cases: [string, string][] = [
      ['a\\\t{"x":1\\\n', '"s":"a\\t","j":{"x":1\n'],
      ['x\\q\t\\N\n', '"s":"xq","j":null'],
      ['\\Nx\t\\Nx\n', '"s":"Nx","j":Nx'],
      ['p\\101\\x41\\v\t{\\"a\\": \\\\n}\n', '"s":"pAA\\u000b","j":{"a": \\n}'],
    ];
    const columns = [
      { name: 's', kind: 'string' as const },
      { name: 'j', kind: 'json' as const },
    ];
    const options: EncodeOptions = { stream: 's', columns, timeExtracted: 't', track: [], maxRows: 10 };
    for (const [row, record] of cases) {
      const got = await collect(
        new CopyTextTranscoder().encode(
          chunked(Buffer.from(row), () => 100),
          options,
        ),
      );
      expect(got.text).toBe(`${recordPrefix('s')}${record}${recordSuffix(options)}`);
    }
  });

  it('yields at most maxRows rows per batch, so STATE can follow every N rows', async () => {
    const text = Buffer.from(Array.from({ length: 1000 }, (_, i) => `${i}\n`).join(''));
    const sizes: number[] = [];
    for await (const b of new CopyTextTranscoder().encode(
      chunked(text, () => 1000),
      {
        stream: 's',
        columns: [{ name: 'i', kind: 'integer' }],
        timeExtracted: 't',
        track: [0],
        maxRows: 300,
      },
    ))
      sizes.push(b.rows);
    expect(sizes).toEqual([300, 300, 300, 100]);
  });

  it('fails loudly when a row has more or fewer fields than the columns', async () => {
    const opts = {
      stream: 's',
      columns: [
        { name: 'a', kind: 'integer' as const },
        { name: 'b', kind: 'integer' as const },
      ],
      timeExtracted: 't',
      track: [],
      maxRows: 10,
    };
    await expect(
      collect(
        new CopyTextTranscoder().encode(
          chunked(Buffer.from('1\t2\t3\n'), () => 100),
          opts,
        ),
      ),
    ).rejects.toThrow(/more fields/);
    await expect(
      collect(
        new CopyTextTranscoder().encode(
          chunked(Buffer.from('1\n'), () => 100),
          opts,
        ),
      ),
    ).rejects.toThrow(/fewer fields/);
    await expect(
      collect(
        new CopyTextTranscoder().encode(
          chunked(Buffer.from('1\t2'), () => 100),
          opts,
        ),
      ),
    ).rejects.toThrow(/middle of a row/);
  });
});
