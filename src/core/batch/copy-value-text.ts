/**
 * Reads one COPY text field (never `\N`) into what a Parquet column holds, giving exactly what the
 * transcoder's JSON of the field, read by json-value-text.ts, gives: a BATCH Parquet file is the same
 * whether its rows came as RECORD lines or as COPY text (a unit test writes both and compares the bytes).
 * Only the shapes PostgreSQL writes are read here; anything else throws COPY_FALLBACK, and the row is
 * converted by the transcoder itself (copy-row-scanner.ts). A null (NaN, infinity, BC: what the JSON
 * has as null) is returned as NaN, which no value of these columns can be.
 */
import { isDate } from '../postgres/copy-text-bytes.js';
import { dateAt, digitsAt, shortDoubleOf, slowDoubleOf, ValueTextError } from './json-value-text.js';

const BS = 92,
  MINUS = 45,
  PLUS = 43,
  DOT = 46,
  ZERO = 48,
  SPACE = 32,
  COLON = 58;

/** Thrown (not an Error: no stack is taken) for a field the fast readers leave to the transcoder. */
export const COPY_FALLBACK = { fallback: true } as const;

/** A number field the JSON has as null: NaN, Infinity, -Infinity (numberOrNull in copy-text-bytes.ts). */
export function isNullNumber(src: Buffer, f: number, fe: number): boolean {
  if (fe === f) throw COPY_FALLBACK;
  const c = src[f] === MINUS ? src[f + 1] : src[f];
  return c === 78 || c === 73;
}

/**
 * Throws COPY_FALLBACK for a number field with a byte other than digits, signs, dot and exponent: the
 * transcoder copies number fields as they are, so the JSON's number would end at a space, comma or brace.
 */
export function checkNumberText(src: Buffer, f: number, fe: number): void {
  for (let i = f; i < fe; i++) {
    const c = src[i]!;
    if ((c < ZERO || c > ZERO + 9) && c !== DOT && c !== MINUS && c !== PLUS && c !== 101 && c !== 69) throw COPY_FALLBACK;
  }
}

/** A reader of a number's JSON text as a reader of its COPY field: null as NaN, and a field it refuses left to the transcoder. */
export function copyNumber<T>(parse: (src: Buffer, a: number, b: number) => T): (src: Buffer, f: number, fe: number) => T | number {
  return (src, f, fe) => {
    if (isNullNumber(src, f, fe)) return NaN;
    checkNumberText(src, f, fe);
    return refusedToFallback(parse, src, f, fe);
  };
}

/** An integer field: only digits (and a sign) are read as they are in the JSON; anything else is the transcoder's. */
export function copyInteger(
  parse: (src: Buffer, a: number, b: number) => number | bigint,
): (src: Buffer, f: number, fe: number) => number | bigint {
  return (src, f, fe) => refusedToFallback(parse, src, f, fe);
}

/**
 * float4/float8 text: doubleOf's fast path where it applies, as most fields take it, else checked and read by
 * Number(). (float8send's 8 bytes, as CopyRunner selects a float8 column for a Parquet file, are NumberBuffer's
 * to store: readSent.)
 */
export function copyDouble(src: Buffer, f: number, fe: number): number {
  const v = shortDoubleOf(src, f, fe);
  if (v === v) return v;
  if (isNullNumber(src, f, fe)) return NaN;
  checkNumberText(src, f, fe);
  return refusedToFallback(slowDoubleOf, src, f, fe);
}

function refusedToFallback<T>(parse: (src: Buffer, a: number, b: number) => T, src: Buffer, f: number, fe: number): T {
  try {
    return parse(src, f, fe);
  } catch (err) {
    // the JSON path reads the same bytes and fails the same way, with its own words
    if (err instanceof ValueTextError) throw COPY_FALLBACK;
    throw err;
  }
}

/**
 * `YYYY-MM-DD HH:MM:SS[.f…][+00]` as µs since the epoch, the transcoder's timestamp() rule for null
 * (any other shape: NaN), then timestampMicrosOf's for the value. Out-of-range parts and more than 6
 * fraction digits go to the transcoder, whose JSON then fails the file with the JSON path's error.
 */
export function copyTimestampMicros(src: Buffer, f: number, fe: number): number | bigint {
  let end = fe;
  if (end - f >= 22 && src[end - 3] === PLUS && src[end - 2] === ZERO && src[end - 1] === ZERO) end -= 3;
  const n = end - f;
  if (n < 19 || (n > 19 && (n === 20 || src[f + 19] !== DOT)) || n > 26) return n > 26 && src[f + 19] === DOT ? fallback() : NaN;
  const days = dateAt(src, f);
  if (days === -1e9 || src[f + 10] !== SPACE || src[f + 13] !== COLON || src[f + 16] !== COLON) return shapeOrFallback(src, f, end);
  const hh = digitsAt(src, f + 11, 2),
    mm = digitsAt(src, f + 14, 2),
    ss = digitsAt(src, f + 17, 2);
  if (hh < 0 || mm < 0 || ss < 0) return NaN;
  if (hh > 23 || mm > 59 || ss > 60) return fallback();
  let micros = 0;
  for (let k = f + 20; k < end; k++) {
    const d = src[k]! - ZERO;
    if (d < 0 || d > 9) return NaN;
    micros = micros * 10 + d;
  }
  for (let k = n > 19 ? n - 20 : 6; k < 6; k++) micros *= 10;
  const seconds = days * 86400 + hh * 3600 + mm * 60 + ss;
  if (seconds > -9e9 && seconds < 9e9) return seconds * 1e6 + micros;
  return BigInt(seconds) * 1000000n + BigInt(micros);
}

/** A date and time whose date part is not a valid date: null when its shape is not digits and separators, else the transcoder's. */
function shapeOrFallback(src: Buffer, f: number, end: number): number {
  for (let k = 0; k < end - f; k++) {
    const c = src[f + k]!;
    const want = k === 4 || k === 7 ? MINUS : k === 10 ? SPACE : k === 13 || k === 16 ? COLON : k === 19 ? DOT : -1;
    if (want >= 0 ? c !== want : c < ZERO || c > ZERO + 9) return NaN;
  }
  return fallback();
}

/** `YYYY-MM-DD` as days since the epoch; any other shape (infinity, BC) is null, as in the transcoder. */
export function copyDate(src: Buffer, f: number, fe: number): number {
  if (fe - f !== 10 || !isDate(src, f)) return NaN;
  const days = dateAt(src, f);
  return days === -1e9 ? fallback() : days;
}

function fallback(): never {
  throw COPY_FALLBACK;
}

const HEX_VALUES = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) HEX_VALUES['0123456789abcdef'.charCodeAt(c)] = c;
const bits = new DataView(new ArrayBuffer(8));

/**
 * Set by readSent: the high and low 32 bits of the 8 bytes read. Int32 elements, so the column buffers store
 * a value's words without a double boxed for it (~16 bytes of garbage per value).
 */
export const SENT = new Int32Array(2);

/**
 * True, with SENT set, when the field is a send function's 8 bytes (`\\x` and 16 lowercase hex digits,
 * big-endian: CopyRunner selects doubles and timestamps so for a Parquet file); false for a field of another
 * length or first byte. A field of 19 bytes starting with a backslash in any other shape is the transcoder's.
 */
export function readSent(src: Buffer, f: number, fe: number): boolean {
  if (fe - f !== 19 || src[f] !== BS) return false;
  if (src[f + 1] !== BS || src[f + 2] !== 120) throw COPY_FALLBACK;
  const at = f + 3;
  let hi = 0,
    lo = 0,
    bad = 0;
  for (let k = 0; k < 8; k++) {
    const a = HEX_VALUES[src[at + k]!]!,
      b = HEX_VALUES[src[at + 8 + k]!]!;
    bad |= a | b;
    hi = (hi << 4) | (a & 15);
    lo = (lo << 4) | (b & 15);
  }
  if (bad < 0) throw COPY_FALLBACK;
  SENT[0] = hi;
  SENT[1] = lo;
  return true;
}

/** µs from 2000-01-01 (PostgreSQL's epoch) to 1970-01-01, and its high and low 32 bits */
const POSTGRES_EPOCH_MICROS = 946_684_800_000_000;
export const POSTGRES_EPOCH_HI = 220_417,
  POSTGRES_EPOCH_LO = 993_517_568;
/** the first µs of 0001-01-01 and of 10000-01-01 since 1970: the text path's timestamps are the years between (BC and infinity are null) */
const FIRST_MICROS = -62_135_596_800_000_000n,
  END_MICROS = 253_402_300_800_000_000n;

/**
 * The sent timestamp in SENT (timestamptz_send's or timestamp_send's 8 bytes: µs since 2000) as µs since 1970,
 * as copyTimestampMicros reads the same value's text; NaN for what the text has as null (infinity, BC, years
 * past 9999). Int64Buffer stores those within 2^52 µs of 2000 from the words themselves.
 */
export function sentTimestampMicros(): bigint | number {
  const micros = (BigInt(SENT[0]!) << 32n) + BigInt(SENT[1]! >>> 0) + BigInt(POSTGRES_EPOCH_MICROS);
  return micros < FIRST_MICROS || micros >= END_MICROS ? NaN : micros;
}

/**
 * The text of a sent timestamp's field, as the server writes it (`+00` when `zone`), for the
 * transcoder (copy-row-scanner.ts); `infinity` for what the text has as null; undefined when `field` is
 * not 16 hex digits.
 */
export function timestampBitsText(field: string, zone: boolean): string | undefined {
  if (!/^\\\\x[0-9a-f]{16}$/.test(field)) return undefined;
  const micros = BigInt.asIntN(64, BigInt(`0x${field.slice(3)}`)) + BigInt(POSTGRES_EPOCH_MICROS);
  if (micros < FIRST_MICROS || micros >= END_MICROS) return 'infinity';
  const fraction = Number(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const iso = new Date(Number((micros - BigInt(fraction)) / 1000n)).toISOString();
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction > 0 ? `.${String(fraction).padStart(6, '0')}` : ''}`;
  return zone ? `${text}+00` : text;
}

/** The decimal text of a sent double's field, for the transcoder (copy-row-scanner.ts): the JSON path reads the same double from it. */
export function doubleBitsText(field: string): string | undefined {
  if (!/^\\\\x[0-9a-f]{16}$/.test(field)) return undefined;
  bits.setBigUint64(0, BigInt(`0x${field.slice(3)}`));
  const v = bits.getFloat64(0);
  return Object.is(v, -0) ? '-0' : String(v);
}
