import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateOf, doubleOf, integerOf, timestampMicrosOf, unescapeString, unscaledOf } from '../../src/core/batch/json-value-text.js';
import { columnBuffer } from '../../src/core/batch/parquet-column-buffers.js';
import { RecordJsonScanner } from '../../src/core/batch/record-json-scanner.js';

const at = (text: string) => [Buffer.from(text), 0, Buffer.byteLength(text)] as const;
const big = (v: number | bigint) => BigInt(v);

describe('Parquet values from the JSON text of records', () => {
  it('reads every RFC 3339 timestamp of years 1–9999 to the microsecond Date agrees with', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999 }),
        (d, us) => {
          const iso = d.toISOString().replace(/^\+0*/, '');
          const text = `"${iso.slice(0, 23)}${String(us).padStart(3, '0')}Z"`;
          expect(big(timestampMicrosOf(...at(text)))).toBe(BigInt(d.getTime()) * 1000n + BigInt(us));
        },
      ),
    );
  });

  it('applies offsets, and refuses what is not a timestamp or finer than a microsecond', () => {
    expect(big(timestampMicrosOf(...at('"1960-06-01T12:00:00+02:00"')))).toBe(BigInt(Date.parse('1960-06-01T10:00:00Z')) * 1000n);
    expect(big(timestampMicrosOf(...at('"2024-01-01T00:00:00.1234560Z"')))).toBe(
      BigInt(Date.parse('2024-01-01T00:00:00Z')) * 1000n + 123456n,
    );
    for (const bad of ['"2024-02-30T00:00:00Z"', '"2024-01-01T00:00:00"', '"2024-01-01T00:00:00.1234567Z"', '1704067200'])
      expect(() => timestampMicrosOf(...at(bad)), bad).toThrow();
  });

  it('reads dates as days since the epoch', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }), (d) => {
        const day = d.toISOString().replace(/^\+0*/, '').slice(0, 10);
        expect(dateOf(...at(`"${day}"`))).toBe(Math.floor(Date.parse(`${day}T00:00:00Z`) / 86_400_000));
      }),
    );
  });

  it('keeps every digit of integers and decimals, and refuses a digit it would have to round', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }), fc.integer({ min: 0, max: 20 }), (unscaled, scale) => {
        const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
        const text = `${unscaled < 0n ? '-' : ''}${scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`}`;
        expect(big(unscaledOf(...at(text), 38 + scale, scale))).toBe(unscaled);
      }),
    );
    expect(big(integerOf(...at('-9223372036854775808')))).toBe(-(2n ** 63n));
    expect(big(unscaledOf(...at('1.5e-3'), 10, 4))).toBe(15n);
    expect(() => unscaledOf(...at('1.234'), 19, 2)).toThrow(/more than 2 decimal digits/);
    expect(() => unscaledOf(...at('123456'), 5, 0)).toThrow(/more than 5 digits/);
    expect(() => integerOf(...at('1.5'))).toThrow(/not an integer/);
  });

  it('unescapes JSON strings to the UTF-8 bytes JSON.parse gives', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const json = JSON.stringify(s);
        const out = Buffer.alloc(json.length * 3);
        const end = unescapeString(...at(json), out, 0);
        expect(out.subarray(0, end).toString('utf8')).toBe(Buffer.from(s).toString('utf8'));
      }),
    );
  });
});

describe('RecordJsonScanner', () => {
  const columns = [
    { name: 'id', kind: 'int64', source: 'integer' },
    { name: 'note', kind: 'string', source: 'string' },
    { name: 'doc', kind: 'json', source: 'json' },
  ] as const;

  function scan(...lines: string[]) {
    const buffers = columns.map((c) => columnBuffer(c, 16));
    const scanner = new RecordJsonScanner(buffers);
    for (const l of lines) scanner.scan(...at(l));
    return buffers.map((b) => ({ rows: b.rows, nulls: b.nulls, plain: Buffer.from(b.plain()).toString('latin1') }));
  }

  it('takes properties in any order, with spaces, and a missing one as null', () => {
    const inOrder = scan('{"id":1,"note":"a","doc":{"k":[1,"}"]}}', '{"id":2,"note":null}');
    expect(scan('{ "doc" : {"k":[1,"}"]} , "note":"a", "id":1 }', '{"note":null,"id":2}')).toEqual(inOrder);
    expect(inOrder.map((c) => c.nulls)).toEqual([0, 1, 1]);
    expect(inOrder[2]!.plain).toContain('{"k":[1,"}"]}');
  });

  it('refuses a property the SCHEMA does not describe, or one given twice, rather than drop it', () => {
    expect(() => scan('{"id":1,"extra":2}')).toThrow(/does not describe: "extra"/);
    expect(() => scan('{"id":1,"id":2}')).toThrow(/appears twice/);
    expect(() => scan('[1,2]')).toThrow(/not a JSON object/);
  });
});

describe('doubles', () => {
  it('read every double’s shortest text, and other spellings, as Number() does', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        for (const text of [String(d), d.toFixed(Math.min(20, Math.max(0, 3))), d.toPrecision(15), d.toExponential(10)])
          if (!/Infinity|NaN/.test(text)) expect(doubleOf(...at(text)), text).toBe(Number(text));
      }),
    );
    expect(doubleOf(...at('0.1'))).toBe(0.1);
    expect(Object.is(doubleOf(...at('-0')), -0)).toBe(true);
    expect(() => doubleOf(...at('1x'))).toThrow(/not a number/);
  });
});
