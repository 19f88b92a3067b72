/**
 * Reads the JSON text of one record value, byte by byte, into what a Parquet column holds: integers,
 * exact decimals, timestamps and dates as numbers, strings as their UTF-8 bytes. Digits never pass through
 * a JS number where one could be lost: past 15 digits the value is read as a BigInt. A value that does not
 * fit its column throws a ValueTextError naming the value; the file then fails and its rows are read again.
 */

const QUOTE = 34,
  BS = 92,
  MINUS = 45,
  PLUS = 43,
  DOT = 46,
  ZERO = 48;

export class ValueTextError extends Error {}

/** Node's Buffer#latin1Slice (not in its types): toString('latin1', a, b) without the argument checks, 15% of a double's cost */
interface LatinSlice {
  latin1Slice(a: number, b: number): string;
}

function text(src: Buffer, a: number, b: number): string {
  return src.toString('utf8', a, Math.min(b, a + 80)) + (b - a > 80 ? '…' : '');
}

/** An integer: a JS number when it has at most 15 digits (exact), else a BigInt. */
export function integerOf(src: Buffer, a: number, b: number): number | bigint {
  const neg = src[a] === MINUS;
  let i = neg ? a + 1 : a;
  if (i >= b || b - i > 20) throw new ValueTextError(`${text(src, a, b)} is not an integer`);
  if (b - i <= 15) {
    let v = 0;
    for (; i < b; i++) {
      const d = src[i]! - ZERO;
      if (d < 0 || d > 9) throw new ValueTextError(`${text(src, a, b)} is not an integer`);
      v = v * 10 + d;
    }
    return neg ? -v : v;
  }
  for (; i < b; i++) {
    const d = src[i]! - ZERO;
    if (d < 0 || d > 9) throw new ValueTextError(`${text(src, a, b)} is not an integer`);
  }
  return BigInt(src.toString('latin1', a, b));
}

const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const TWO_53 = 2 ** 53;

/**
 * A JSON number as a double (float4/float8 columns). Up to 15 significant digits and a power of ten up to
 * 22, digits and power are both exact doubles, so one multiplication or division rounds correctly
 * (Clinger's fast path) without making a string; other numbers go through Number().
 */
export function doubleOf(src: Buffer, a: number, b: number): number {
  const fast = shortDoubleOf(src, a, b);
  return fast === fast ? fast : slowDoubleOf(src, a, b);
}

/** doubleOf's fast path alone: NaN for a number it does not read exactly that way. */
export function shortDoubleOf(src: Buffer, a: number, b: number): number {
  let i = a;
  const neg = src[i] === MINUS;
  if (neg) i++;
  let m = 0;
  let digits = 0;
  let scale = 0;
  let c = src[i]!;
  for (; i < b && c >= ZERO && c <= ZERO + 9; c = src[++i]!) if ((m = m * 10 + (c - ZERO)) > 0) digits++;
  if (c === DOT)
    for (c = src[++i]!; i < b && c >= ZERO && c <= ZERO + 9; c = src[++i]!, scale++) if ((m = m * 10 + (c - ZERO)) > 0) digits++;
  // m is exact while it stays at or below 2^53 (every partial sum is smaller): 16-digit values mostly are
  if (i === b && (digits <= 15 || m <= TWO_53) && scale <= 22 && i > a + (neg ? 1 : 0))
    return neg ? -(m / POW10[scale]!) : m / POW10[scale]!;
  return NaN;
}

/** doubleOf past its fast path: Number() of the text, which must be a number */
export function slowDoubleOf(src: Buffer, a: number, b: number): number {
  const v = Number((src as unknown as LatinSlice).latin1Slice(a, b));
  if (Number.isNaN(v) || b === a) throw new ValueTextError(`${text(src, a, b)} is not a number`);
  return v;
}

/**
 * A decimal number as the integer DECIMAL(precision, scale) stores (its digits times 10^scale): a JS number
 * up to 15 digits, else a BigInt. More fraction digits than `scale` (other than zeros) or more than
 * `precision` digits throw: rounding would change the value.
 */
export function unscaledOf(src: Buffer, a: number, b: number, precision: number, scale: number): number | bigint {
  let i = a;
  const neg = src[i] === MINUS;
  if (neg) i++;
  let digits = '';
  let fraction = 0;
  let seenDot = false;
  let exponent = 0;
  for (; i < b; i++) {
    const c = src[i]!;
    if (c >= ZERO && c <= ZERO + 9) {
      digits += String.fromCharCode(c);
      if (seenDot) fraction++;
    } else if (c === DOT && !seenDot) seenDot = true;
    else if (c === 101 || c === 69) {
      exponent = Number(src.toString('latin1', i + 1, b));
      if (!Number.isInteger(exponent)) throw new ValueTextError(`${text(src, a, b)} is not a number`);
      break;
    } else throw new ValueTextError(`${text(src, a, b)} is not a number`);
  }
  if (digits === '') throw new ValueTextError(`${text(src, a, b)} is not a number`);
  let shift = scale - (fraction - exponent);
  if (shift < 0) {
    // fraction digits past the scale: only zeros may go
    const cut = digits.length + shift;
    if (!/^0*$/.test(digits.slice(Math.max(cut, 0)))) throw new ValueTextError(`${text(src, a, b)} has more than ${scale} decimal digits`);
    digits = digits.slice(0, Math.max(cut, 0));
    shift = 0;
  }
  digits = (digits + '0'.repeat(shift)).replace(/^0+/, '');
  if (digits.length > precision) throw new ValueTextError(`${text(src, a, b)} has more than ${precision} digits`);
  if (digits.length <= 15) {
    const v = digits === '' ? 0 : Number(digits);
    return neg ? -v : v;
  }
  return neg ? -BigInt(digits) : BigInt(digits);
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function digitsAt(src: Buffer, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = src[i + k]! - ZERO;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** `YYYY-MM-DD` at `i` as days since the epoch, or -1e9 when it is not a date. */
export function dateAt(src: Buffer, i: number): number {
  const y = digitsAt(src, i, 4),
    m = digitsAt(src, i + 5, 2),
    d = digitsAt(src, i + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1 || src[i + 4] !== MINUS || src[i + 7] !== MINUS) return -1e9;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > MONTH_DAYS[m - 1]! + (leap ? 1 : 0)) return -1e9;
  return daysFromCivil(y, m, d);
}

/** A JSON string `"YYYY-MM-DD"` (the quotes included in a..b) as days since the epoch. */
export function dateOf(src: Buffer, a: number, b: number): number {
  const days = b - a === 12 && src[a] === QUOTE ? dateAt(src, a + 1) : -1e9;
  if (days === -1e9) throw new ValueTextError(`${text(src, a, b)} is not a date (YYYY-MM-DD)`);
  return days;
}

/**
 * A JSON string RFC 3339 timestamp, `"YYYY-MM-DDTHH:MM:SS[.f…]Z"` or with an offset `±HH:MM`, as
 * microseconds since the epoch: a JS number when exact (years ~1685 to ~2255), else a BigInt. Digits
 * past the microsecond must be zeros.
 */
export function timestampMicrosOf(src: Buffer, a: number, b: number): number | bigint {
  const bad = (): ValueTextError => new ValueTextError(`${text(src, a, b)} is not an RFC 3339 timestamp`);
  const i = a + 1;
  if (src[a] !== QUOTE || src[b - 1] !== QUOTE || b - a < 22) throw bad();
  const days = dateAt(src, i);
  const t = src[i + 10];
  const hh = digitsAt(src, i + 11, 2),
    mm = digitsAt(src, i + 14, 2),
    ss = digitsAt(src, i + 17, 2);
  if (days === -1e9 || (t !== 84 && t !== 116 && t !== 32) || src[i + 13] !== 58 || src[i + 16] !== 58) throw bad();
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) throw bad();
  let j = i + 19;
  let micros = 0;
  if (src[j] === DOT) {
    let n = 0;
    for (j++; j < b - 1 && src[j]! >= ZERO && src[j]! <= ZERO + 9; j++, n++) {
      if (n < 6) micros = micros * 10 + (src[j]! - ZERO);
      else if (src[j] !== ZERO) throw new ValueTextError(`${text(src, a, b)} is finer than a microsecond`);
    }
    if (n === 0) throw bad();
    for (; n < 6; n++) micros *= 10;
  }
  let offset = 0;
  const z = src[j];
  if ((z === 90 || z === 122) && j === b - 2) offset = 0;
  else if ((z === PLUS || z === MINUS) && j === b - 7 && src[j + 3] === 58) {
    const oh = digitsAt(src, j + 1, 2),
      om = digitsAt(src, j + 4, 2);
    if (oh < 0 || om < 0) throw bad();
    offset = (z === MINUS ? -1 : 1) * (oh * 60 + om);
  } else throw bad();
  const seconds = days * 86400 + hh * 3600 + (mm - offset) * 60 + ss;
  if (seconds > -9e9 && seconds < 9e9) return seconds * 1e6 + micros;
  return BigInt(seconds) * 1000000n + BigInt(micros);
}

/**
 * The UTF-8 bytes of a JSON string (the quotes included in a..b) written at `out[o]`; returns the end. Only
 * called for a string that holds a backslash: one without is copied as it is.
 */
export function unescapeString(src: Buffer, a: number, b: number, out: Buffer, o: number): number {
  for (let i = a + 1; i < b - 1; i++) {
    const c = src[i]!;
    if (c !== BS) {
      out[o++] = c;
      continue;
    }
    const e = src[++i]!;
    if (e === 117) {
      let cp = parseInt(src.toString('latin1', i + 1, i + 5), 16);
      i += 4;
      if (cp >= 0xd800 && cp < 0xdc00 && src[i + 1] === BS && src[i + 2] === 117) {
        const lo = parseInt(src.toString('latin1', i + 3, i + 7), 16);
        if (lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        }
      }
      if (Number.isNaN(cp)) throw new ValueTextError(`${text(src, a, b)} has a bad \\u escape`);
      o += out.write(String.fromCodePoint(cp), o, 'utf8');
    } else {
      out[o++] = e === 110 ? 10 : e === 116 ? 9 : e === 114 ? 13 : e === 98 ? 8 : e === 102 ? 12 : e;
    }
  }
  return o;
}
