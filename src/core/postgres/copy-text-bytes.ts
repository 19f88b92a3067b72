/**
 * Byte-level pieces of the COPY-text transcoder: copies without per-call allocations, JSON escapes,
 * the timestamp rewrite, and the slow path that decodes one row into strings (for bookmarks).
 */
export const TAB = 9,
  NL = 10,
  CR = 13,
  BS = 92,
  QUOTE = 34,
  SPACE = 32;
const HEX = Buffer.from('0123456789abcdef');
export const NULL = Buffer.from('null'),
  TRUE = Buffer.from('true'),
  FALSE = Buffer.from('false');

/**
 * `src[from..to)` into `out` at `o`; returns the length. A row is a dozen runs of a few bytes (a
 * value, a column name, the record's prefix and suffix). Buffer#copy of part of a buffer allocates a
 * Uint8Array view per call (node 20's _copyActual): at a dozen calls a row that was most of the GC
 * time. Runs up to 64 bytes go byte by byte; longer ones are rare (long strings) and worth the view.
 */
export function copyBytes(src: Buffer, out: Buffer, o: number, from: number, to: number): number {
  const n = to - from;
  if (n > 64) return src.copy(out, o, from, to);
  for (let i = 0; i < n; i++) out[o + i] = src[from + i]!;
  return n;
}

/** All of `src` (a record's prefix or suffix, a column name, a literal): TypedArray#set needs no view. */
export function copyAll(src: Buffer, out: Buffer, o: number): number {
  const n = src.length;
  if (n > 16) out.set(src, o);
  else for (let i = 0; i < n; i++) out[o + i] = src[i]!;
  return n;
}

/** A number copied to `out[v..o)`: NaN, Infinity and -Infinity, which JSON cannot hold, become null. */
export function numberOrNull(s: Buffer, f: number, out: Buffer, v: number, o: number): number {
  const c = s[f] === 45 ? s[f + 1] : s[f];
  return c === 78 || c === 73 ? v + copyAll(NULL, out, v) : o;
}

export function escapeByte(b: number, out: Buffer, o: number): number {
  out[o++] = BS;
  switch (b) {
    case QUOTE:
      out[o++] = QUOTE;
      return o;
    case BS:
      out[o++] = BS;
      return o;
    case NL:
      out[o++] = 110;
      return o;
    case CR:
      out[o++] = 114;
      return o;
    case TAB:
      out[o++] = 116;
      return o;
    case 8:
      out[o++] = 98;
      return o;
    case 12:
      out[o++] = 102;
      return o;
  }
  if (b >= SPACE) {
    // a printable byte from an unusual escape: write it plainly
    out[o - 1] = b;
    return o;
  }
  out[o++] = 117;
  out[o++] = 48;
  out[o++] = 48;
  out[o++] = HEX[b >> 4]!;
  out[o++] = HEX[b & 15]!;
  return o;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 48 && b <= 57;
}

export function isHex(b: number): boolean {
  return (b >= 48 && b <= 57) || (b >= 97 && b <= 102) || (b >= 65 && b <= 70);
}

export function isDate(s: Buffer, f: number): boolean {
  return (
    isDigit(s[f]) &&
    isDigit(s[f + 1]) &&
    isDigit(s[f + 2]) &&
    isDigit(s[f + 3]) &&
    s[f + 4] === 45 &&
    isDigit(s[f + 5]) &&
    isDigit(s[f + 6]) &&
    s[f + 7] === 45 &&
    isDigit(s[f + 8]) &&
    isDigit(s[f + 9])
  );
}

/**
 * '2024-01-01 10:00:00[.ffffff][+00]' -> "2024-01-01T10:00:00[.ffffff]Z"; anything else (infinity, BC,
 * year > 9999) -> null. `sv` views `s` and `view` views `out`. A field of 19 bytes or more must be
 * followed by one more byte in `s` (its TAB or the row's NL, as in a row): the date and time are read as
 * 5 words, their digits checked 4 at a time and checked while copied (on the narrow bench table this
 * function was once a quarter of the tap's CPU). A byte b is a digit when neither b - 0x30 nor b + 0x46
 * sets its high bit; a borrow or carry between bytes only starts at a byte that is not a digit, so the
 * test is exact. The 20th byte is copied as it is and overwritten unless it is the fraction's dot.
 */
export function timestamp(sv: DataView, s: Buffer, f: number, e: number, view: DataView, out: Buffer, o: number): number {
  let end = e;
  if (end - f >= 22 && s[end - 3] === 43 && s[end - 2] === 48 && s[end - 1] === 48) end -= 3;
  const n = end - f;
  if (n < 19 || (n > 19 && (n === 20 || s[f + 19] !== 46))) return o + copyAll(NULL, out, o);
  const w0 = sv.getInt32(f, true),
    w1 = sv.getInt32(f + 4, true),
    w2 = sv.getInt32(f + 8, true),
    w3 = sv.getInt32(f + 12, true),
    w4 = sv.getInt32(f + 16, true);
  // '-' at 4 and 7, ' ' at 10, ':' at 13 and 16 (little-endian: byte k of a word is bits 8k..8k+7)
  const separators = ((w1 & 0xff0000ff) ^ 0x2d00002d) | ((w2 & 0xff0000) ^ 0x200000) | ((w3 & 0xff00) ^ 0x3a00) | ((w4 & 0xff) ^ 0x3a);
  let digits = notDigits(w0) | notDigits((w1 & 0xffff00) | 0x30000030) | notDigits((w2 & 0xff00ffff) | 0x300000);
  digits |= notDigits((w3 & 0xffff00ff) | 0x3000) | notDigits((w4 & 0xffff00) | 0x30000030);
  for (let i = 20; i < n; i++) {
    const d = s[f + i]! - 48;
    digits |= (d | (9 - d)) & 0x80;
  }
  if (digits !== 0 || separators !== 0) return o + copyAll(NULL, out, o);
  out[o] = QUOTE;
  view.setInt32(o + 1, w0, true);
  view.setInt32(o + 5, w1, true);
  view.setInt32(o + 9, (w2 & 0xff00ffff) | 0x540000, true); // 'T' for the space
  view.setInt32(o + 13, w3, true);
  view.setInt32(o + 17, w4, true);
  for (let i = 20; i < n; i++) out[o + 1 + i] = s[f + i]!;
  o += 1 + n;
  out[o++] = 90; // Z
  out[o++] = QUOTE;
  return o;
}

/** The high bit of each byte of `w` that is not an ASCII digit (0 when all 4 are). */
function notDigits(w: number): number {
  return ((w - 0x30303030) | (w + 0x46464646)) & 0x80808080;
}

/** Splits and unescapes one COPY text row (used for bookmarks, once per batch). */
export function decodeFields(s: Buffer, start: number, end: number): (string | null)[] {
  const raw = s.toString('utf8', start, end).split('\t');
  return raw.map((f) => (f === '\\N' ? null : unescapeCopyText(f)));
}

export function unescapeCopyText(f: string): string {
  if (!f.includes('\\')) return f;
  return f.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/gs, (_m, oct: string, hex: string, c: string) => {
    if (oct) return String.fromCharCode(parseInt(oct, 8) & 0xff);
    if (hex) return String.fromCharCode(parseInt(hex, 16));
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      default:
        return c;
    }
  });
}

/**
 * A row split across COPY chunks: `pending` holds its first pieces (copies), `data` the next chunk. Returns
 * the whole row (its newline included) and where the rest of `data` starts, or undefined when `data` does
 * not end the row either (a copy of it is then kept in `pending`).
 */
export function joinSplitRow(pending: Buffer[], data: Buffer): { row: Buffer; next: number } | undefined {
  // join the row's pieces only, not the rest of this chunk
  const nl = data.indexOf(NL);
  if (nl < 0) {
    pending.push(Buffer.from(data));
    return undefined;
  }
  pending.push(data.subarray(0, nl + 1));
  const row = Buffer.concat(pending);
  pending.length = 0;
  return { row, next: nl + 1 };
}
