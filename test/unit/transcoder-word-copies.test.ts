import { describe, expect, it } from 'vitest';
import { recordPrefix, recordSuffix, type EncodeOptions } from '../../src/core/postgres/record-encoder.js';
import type { ValueKind } from '../../src/core/postgres/type-mapping.js';
import { jsonValueText } from '../../src/core/postgres/value-json.js';
import { transcodeRows } from '../helpers/transcode.js';

/**
 * The transcoder copies text, json and numbers 4 bytes at a time while none of the 4 needs a look
 * (a TAB, a backslash, a quote, a control byte). This puts each such byte at every offset of values of
 * 0 to 13 bytes, in a field that ends at a TAB and in one that ends the row, against jsonValueText.
 */
const copyText = (v: string) =>
  v.replace(
    /[\\\b\f\n\r\t\v]/g,
    (c) => ({ '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' })[c]!,
  );

/** one special at offset k of an n-byte filler */
const place = (n: number, k: number, special: string, filler = 'abcdefghijklm') => filler.slice(0, k) + special + filler.slice(k + 1, n);

const CASES: [ValueKind, string[], (n: number, k: number, special: string) => string][] = [
  // bytes below 0x20, the quote and the backslash need escapes; space, '!' (33) and '#' (35) border them
  ['string', ['"', '\\', '\t', '\n', '\r', '\u0001', '\u001f', '\u007f', ' ', '!', '#', 'ü', '😀', 'N'], place],
  // json text: an escaped quote or backslash in a string, a raw newline or tab (whitespace)
  ['json', ['\\"', '\\\\', '\n', '\t', 'ü', ' '], (n, k, s) => `["${place(n, k, s)}"]`],
  ['integer', ['-', '0', '9'], (n, k, s) => place(n, k, s, '1234567890123')],
  ['number', ['.', 'e', '-'], (n, k, s) => place(n, k, s, '1234567890123') || '0'],
];

/** a timestamp with `special` in place of its k-th character (k up to 29: the offset and beyond) */
const STAMP = '2024-01-31 23:59:58.123456+00';
const stamp = (k: number, special: string) => (STAMP.slice(0, k) + special + STAMP.slice(k + 1)).slice(0, Math.max(k + 1, 19));

/** Each row's two values, in columns a and b of `kind`, through the transcoder and through jsonValueText. */
async function expectReference(kind: ValueKind, rows: string[][]): Promise<void> {
  const columns = [
    { name: 'a', kind },
    { name: 'b', kind },
  ];
  const options: EncodeOptions = { stream: 's', columns, timeExtracted: 't', track: [], maxRows: 100_000 };
  const expected = rows
    .map((r) => `${recordPrefix('s')}"a":${jsonValueText(kind, r[0]!)},"b":${jsonValueText(kind, r[1]!)}${recordSuffix(options)}`)
    .join('');
  expect(
    await transcodeRows(
      rows.map((r) => r.map(copyText)),
      options,
    ),
  ).toBe(expected);
}

describe('4-byte copies stop at every byte that needs a look, wherever it falls', () => {
  for (const [kind, specials, make] of CASES) {
    it(`${kind}: each special byte at each offset of 0–13 byte values, before a TAB and at the row's end`, async () => {
      const rows: string[][] = [];
      for (const special of specials) {
        for (let n = 0; n <= 13; n++) for (let k = 0; k < Math.max(n, 1); k++) rows.push([make(n, k, special), make(n, k, special)]);
      }
      await expectReference(kind, rows);
    });
  }

  it('timestamps: a byte that is not a digit or the separator due, at each of the 29 offsets, gives null', async () => {
    const rows: string[][] = [];
    // '/' and ':' border the digits; 'ü' and 'ÿ' are bytes above 0x7f; '0' and '-' are right in some places
    for (const special of ['/', ':', ' ', '-', '.', '0', 'ü', 'ÿ', '\u007f', 'T']) {
      for (let k = 0; k < STAMP.length; k++) rows.push([stamp(k, special), stamp(k, special)]);
    }
    for (const kind of ['timestamptz', 'timestamp'] as const) await expectReference(kind, rows);
  });
});
