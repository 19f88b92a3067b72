import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParquetWriter } from '../../src/core/batch/parquet-writer.js';
import type { ParquetColumn } from '../../src/core/batch/parquet-columns.js';
import { CopyTextTranscoder } from '../../src/core/postgres/copy-text-transcoder.js';
import { recordPrefix } from '../../src/core/postgres/record-encoder.js';

/**
 * A Parquet BATCH file must not depend on how its rows reached the writer: as RECORD lines (the JSON path,
 * which change streams and record transforms take) or as COPY text rows (FULL_TABLE and INCREMENTAL).
 * Generated rows, in the shapes PostgreSQL writes and in shapes only hostile input has, are written both
 * ways; the files must be byte for byte the same, or both fail with the same message.
 */

const dir = mkdtempSync(join(tmpdir(), 'parquet-copy-text-'));
let n = 0;

/** COPY text escaping of a value, as PostgreSQL's COPY TO writes it (other control bytes stay raw). */
function escape(s: string): string {
  return s.replace(
    /[\\\n\r\t\b\f\v]/g,
    (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v' })[c]!,
  );
}

const pad = (v: number, w: number) => String(v).padStart(w, '0');
/** input only hostile servers or proxies send: escapes PostgreSQL never writes, a backslash at the end */
const hostile = fc.constantFrom('\\101', '\\x41', '\\q', 'a\\', '\\', '\\N', '"', '\\"', '\\0', '\u0001', '\\v', '\\b', '\\f');
const fraction = fc.integer({ min: 0, max: 8 }).chain((k) => fc.stringMatching(new RegExp(`^[0-9]{${k}}$`)));
const dateText = fc
  .record({
    // any year, and often one near 2000: a sent timestamp within 2^52 µs of 2000 is stored by a path of its own
    y: fc.oneof(fc.integer({ min: 0, max: 10001 }), fc.integer({ min: 1850, max: 2150 })),
    m: fc.integer({ min: 1, max: 13 }),
    d: fc.integer({ min: 1, max: 31 }),
  })
  .map(({ y, m, d }) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);
const timestampText = (tz: boolean) =>
  fc
    .record({
      date: dateText,
      h: fc.integer({ min: 0, max: 24 }),
      mi: fc.integer({ min: 0, max: 60 }),
      s: fc.integer({ min: 0, max: 61 }),
      f: fraction,
      bc: fc.boolean(),
    })
    .map(
      ({ date, h, mi, s, f, bc }) =>
        `${date} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${f ? `.${f}` : ''}${tz ? '+00' : ''}${bc ? ' BC' : ''}`,
    );
const doubleText = fc.oneof(
  fc.double().map((d) => String(d)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => d.toExponential()),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => d.toPrecision(17)),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0', '1e+22', '1e-05', '0.1'),
);
const decimalText = fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 12 })).map(([v, s]) => {
  const digits = (v < 0n ? -v : v).toString().padStart(s + 1, '0');
  return `${v < 0n ? '-' : ''}${s === 0 ? digits : `${digits.slice(0, -s)}.${digits.slice(-s)}`}`;
});
const jsonText = fc.jsonValue().map((v) => escape(JSON.stringify(v, null, v !== null && typeof v === 'object' ? 1 : undefined)));

interface Kind {
  readonly column: Omit<ParquetColumn, 'name'>;
  readonly value: fc.Arbitrary<string>;
}
const KINDS: Kind[] = [
  { column: { kind: 'int64', source: 'integer' }, value: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map(String) },
  { column: { kind: 'double', source: 'number' }, value: doubleText },
  { column: { kind: 'decimal', source: 'number', precision: 9, scale: 2 }, value: decimalText },
  { column: { kind: 'decimal', source: 'number', precision: 18, scale: 6 }, value: decimalText },
  { column: { kind: 'decimal', source: 'number', precision: 38, scale: 10 }, value: fc.oneof(decimalText, fc.constant('NaN')) },
  { column: { kind: 'string', source: 'number' }, value: fc.oneof(decimalText, fc.constantFrom('NaN', 'Infinity')) },
  { column: { kind: 'boolean', source: 'boolean' }, value: fc.constantFrom('t', 'f', 'x') },
  { column: { kind: 'string', source: 'string' }, value: fc.string({ unit: 'binary' }).map(escape) },
  { column: { kind: 'string', source: 'bytea' }, value: fc.uint8Array().map((b) => `\\\\x${Buffer.from(b).toString('hex')}`) },
  { column: { kind: 'json', source: 'json' }, value: jsonText },
  { column: { kind: 'timestamp', source: 'timestamptz' }, value: fc.oneof(timestampText(true), fc.constantFrom('infinity', '-infinity')) },
  { column: { kind: 'timestamp', source: 'timestamp' }, value: timestampText(false) },
  { column: { kind: 'date', source: 'date' }, value: fc.oneof(dateText, fc.constantFrom('infinity', '0001-01-01 BC')) },
];

/** A field: mostly the kind's value, sometimes NULL, rarely a hostile piece inside or instead of it. */
const field = (kind: Kind) =>
  fc.oneof(
    { weight: 12, arbitrary: kind.value },
    { weight: 2, arbitrary: fc.constant('\\N') },
    { weight: 1, arbitrary: fc.tuple(kind.value, hostile).map(([v, h]) => v + h) },
    { weight: 1, arbitrary: hostile },
  );

type Outcome = { bytes: Buffer } | { error: string };

const DOUBLE = /^-?(\d+(\.\d*)?([eE][-+]?\d+)?|Infinity|NaN)$/;
function float8send(v: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return `\\\\x${b.toString('hex')}`;
}

const TIMESTAMP = /^(\d{4,5})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(\+00)?( BC)?$/;
/**
 * timestamptz_send's bytes (µs since 2000-01-01, big-endian) of a timestamp's text where the server could
 * have written that text (a real date and time, no leap second, at most 6 fraction digits); else the text.
 */
function timestampSend(v: string, zone: boolean): string {
  const special = v === 'infinity' ? (1n << 63n) - 1n : v === '-infinity' ? -(1n << 63n) : undefined;
  if (special !== undefined) return `\\\\x${BigInt.asUintN(64, special).toString(16).padStart(16, '0')}`;
  const m = TIMESTAMP.exec(v);
  if (!m || !!m[8] !== zone) return v;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const year = m[9] ? 1 - y : y;
  const date = new Date(0);
  date.setUTCFullYear(year, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  const same = date.getUTCFullYear() === year && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && date.getUTCHours() === h;
  if (y === 0 || !same || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== s) return v;
  const micros = BigInt(date.getTime()) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0')) - 946_684_800_000_000n;
  return `\\\\x${BigInt.asUintN(64, micros).toString(16).padStart(16, '0')}`;
}

function written(
  columns: ParquetColumn[],
  feed: (w: ParquetWriter) => Promise<void> | void,
  compression: 'gzip' | 'none',
): Promise<Outcome> {
  const path = join(dir, `${++n}.parquet`);
  const prefix = recordPrefix('s').length - 1;
  const writer = ParquetWriter.create(path, columns, { compression, recordPrefix: prefix, rowGroupRows: 7, rowGroupBytes: 1 << 20 });
  return (async () => {
    try {
      await feed(writer);
      writer.finish();
      return { bytes: readFileSync(path) };
    } catch (err) {
      writer.abort();
      // the JSON scanner quotes the record's line, which differs between the two (the time_extracted, the next line)
      return { error: (err as Error).message.replace(/: \{.*$/s, ': {…') };
    }
  })();
}

async function viaRecordLines(columns: ParquetColumn[], copy: Buffer, compression: 'gzip' | 'none'): Promise<Outcome> {
  const options = {
    stream: 's',
    columns: columns.map((c) => ({ name: c.name, kind: c.source })),
    timeExtracted: 't',
    track: [],
    maxRows: 1e9,
  };
  return written(
    columns,
    async (w) => {
      async function* once() {
        yield copy;
      }
      for await (const batch of new CopyTextTranscoder().encode(once(), options)) w.write(Buffer.from(batch.bytes));
    },
    compression,
  );
}

describe('Parquet from COPY text rows', () => {
  it('writes the same file as from the RECORD lines the transcoder makes of those rows', async () => {
    const table = fc
      .uniqueArray(fc.nat({ max: KINDS.length - 1 }), { minLength: 1, maxLength: 6 })
      .chain((picked) =>
        fc.tuple(fc.constant(picked), fc.array(fc.tuple(...picked.map((k) => field(KINDS[k]!))), { minLength: 1, maxLength: 20 })),
      );
    await fc.assert(
      fc.asyncProperty(
        table,
        fc.constantFrom('gzip' as const, 'none' as const),
        fc.boolean(),
        async ([picked, rows], compression, bits) => {
          const columns = picked.map((k, i): ParquetColumn => ({ name: `c${i}`, ...KINDS[k]!.column }));
          const lines = Buffer.from(rows.map((r) => r.join('\t') + '\n').join(''), 'utf8');
          // doubles and timestamps as CopyRunner selects them for a Parquet file, float8send's and timestamptz_send's
          // bytes, beside their text for the JSON path
          const asBits = (v: string, i: number) => {
            const { kind, source } = columns[i]!;
            if (!bits) return v;
            if (kind === 'double' && DOUBLE.test(v)) return float8send(Number(v));
            return kind === 'timestamp' ? timestampSend(v, source === 'timestamptz') : v;
          };
          const copy = Buffer.from(rows.map((r) => r.map(asBits).join('\t') + '\n').join(''), 'utf8');
          const json = await viaRecordLines(columns, lines, compression);
          const text = await written(columns, (w) => w.writeCopyText(copy), compression);
          if ('error' in json || 'error' in text) expect(text).toEqual(json);
          else expect(text.bytes.equals(json.bytes), `${copy.toString()}`).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives a row the transcoder reads (an escape the fast path leaves to it) the text of its sent doubles and timestamps', async () => {
    const columns: ParquetColumn[] = [
      { name: 'at', kind: 'timestamp', source: 'timestamptz' },
      { name: 'local', kind: 'timestamp', source: 'timestamp' },
      { name: 'v', kind: 'double', source: 'number' },
      { name: 's', kind: 'string', source: 'string' },
    ];
    const rows = [
      ['2024-02-29 23:59:59.000123+00', '0999-12-31 01:02:03.5', '0.1', 'octal \\101'],
      ['1850-06-01 12:00:00+00', '2300-01-01 00:00:00.999999', '-1e+300', '\\x41'],
      ['infinity', '0044-03-15 12:00:00 BC', 'NaN', 'plain'],
    ];
    const text = Buffer.from(rows.map((r) => r.join('\t') + '\n').join(''));
    const sent = Buffer.from(
      rows.map((r) => [timestampSend(r[0]!, true), timestampSend(r[1]!, false), float8send(Number(r[2])), r[3]].join('\t') + '\n').join(''),
    );
    expect(sent.toString()).not.toContain('2024');
    const fromSent = await written(columns, (w) => w.writeCopyText(sent), 'none');
    expect(fromSent).toEqual(await written(columns, (w) => w.writeCopyText(text), 'none'));
    expect(fromSent).toEqual(await viaRecordLines(columns, text, 'none'));
  });

  it('stores a sent timestamp as its text gives it, where adding 1970 to its low word carries and where it does not', async () => {
    const columns: ParquetColumn[] = [{ name: 'at', kind: 'timestamp', source: 'timestamptz' }];
    // 3,301,449,728 µs after 2000 is 2^32 minus the low word of 1970's offset: the first value whose sum carries
    const texts = [
      '2000-01-01 00:55:01.449727+00',
      '2000-01-01 00:55:01.449728+00',
      '1999-12-31 23:59:59.999999+00',
      '2142-06-01 00:00:00+00',
    ];
    const text = Buffer.from(texts.map((t) => `${t}\n`).join(''));
    const sent = Buffer.from(texts.map((t) => `${timestampSend(t, true)}\n`).join(''));
    expect(sent.toString()).toContain('\\\\x00000000c4c82000');
    expect(await written(columns, (w) => w.writeCopyText(sent), 'none')).toEqual(
      await written(columns, (w) => w.writeCopyText(text), 'none'),
    );
  });

  it('hands a row with a missing or an extra field to the transcoder, which fails it', async () => {
    const columns: ParquetColumn[] = [
      { name: 'a', kind: 'int64', source: 'integer' },
      { name: 'b', kind: 'string', source: 'string' },
    ];
    for (const row of ['1\n', '1\tx\ty\n']) {
      const copy = Buffer.from(row);
      const text = await written(columns, (w) => w.writeCopyText(copy), 'none');
      expect(text).toEqual(await viaRecordLines(columns, copy, 'none'));
      expect(text).toMatchObject({ error: expect.stringMatching(/COPY row has (fewer|more) fields than the 2 selected columns/) });
    }
  });
});
