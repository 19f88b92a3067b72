import { describe, expect, it } from 'vitest';
import { recordPrefix, recordSuffix, type EncodeOptions } from '../../src/core/postgres/record-encoder.js';
import type { ValueKind } from '../../src/core/postgres/type-mapping.js';
import { jsonValueText } from '../../src/core/postgres/value-json.js';
import { transcodeRows } from '../helpers/transcode.js';

/**
 * Values are what PostgreSQL prints; the input is their COPY text. The transcoder copies bytes in runs (a value, a column name, the record's prefix and suffix) and
 * copies short runs byte by byte rather than through Buffer#copy (see copyBytes). This checks every run
 * length from 0 to well past that cut-over, in every kind, against the reference jsonValueText.
 */
const text = (n: number, unit: string) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
const VALUES: [ValueKind, (n: number) => string][] = [
  ['string', (n) => text(n, 'abcdefghij')],
  ['string', (n) => text(n, 'ab"c\\d\te\n')], // COPY escapes and quotes split the runs
  ['integer', (n) => text(Math.max(1, n), '1234567890')],
  ['number', (n) => (n < 3 ? '0' : `1.${text(n - 2, '25')}`)],
  ['json', (n) => `{"k":"${text(n, 'xyz')}"}`],
  ['bytea', (n) => `\\x${text(n * 2, '0a1b')}`],
  ['timestamptz', (n) => `2024-01-0${1 + (n % 9)} 10:00:0${n % 10}${n % 2 ? '.' + text(1 + (n % 6), '5') : ''}+00`],
];

/** PostgreSQL's COPY text escaping of a value it printed (backslash, tab, newline are all VALUES hold). */
const copyText = (v: string) => v.replace(/[\\\t\n]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\\\'));

describe('the transcoder copies runs of every length exactly', () => {
  for (const nameLength of [1, 7, 31, 32, 33, 70]) {
    it(`values of 0 to 100 bytes, column and stream names of ${nameLength} bytes`, async () => {
      const columns = VALUES.map(([kind], i) => ({ name: `${i}${text(nameLength - 1, 'n')}`, kind }));
      const options: EncodeOptions = {
        stream: text(nameLength, 's'),
        columns,
        version: 1,
        timeExtracted: '2024-01-01T00:00:00.000Z',
        track: [],
        maxRows: 1000,
      };
      const rows = Array.from({ length: 101 }, (_, n) => VALUES.map(([, gen]) => gen(n)));
      const expected = rows
        .map(
          (row) =>
            recordPrefix(options.stream) +
            row.map((v, i) => `${i === 0 ? '' : ','}${JSON.stringify(columns[i]!.name)}:${jsonValueText(columns[i]!.kind, v)}`).join('') +
            recordSuffix(options),
        )
        .join('');
      const out = await transcodeRows(
        rows.map((r) => r.map(copyText)),
        options,
      );
      expect(out).toBe(expected);
      for (const line of out.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    });
  }
});
