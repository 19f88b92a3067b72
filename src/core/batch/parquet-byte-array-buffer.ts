import { ColumnBuffer } from './parquet-column-buffer.js';
import type { ParquetColumn } from './parquet-columns.js';
import { unescapeString } from './json-value-text.js';
import { jsonValueEnd } from './record-json-scanner.js';
import { checkNumberText, COPY_FALLBACK, isNullNumber } from './copy-value-text.js';

const QUOTE = 34,
  BS = 92,
  SPACE = 32;
/** the byte each of COPY text's escapes \b \f \n \r \t \v \\ stands for, by the letter after the backslash; 0: none */
const COPY_ESCAPES = new Uint8Array(128);
for (const [letter, byte] of [
  ['b', 8],
  ['f', 12],
  ['n', 10],
  ['r', 13],
  ['t', 9],
  ['v', 11],
  ['\\', 92],
] as const)
  COPY_ESCAPES[letter.charCodeAt(0)] = byte;

/**
 * BYTE_ARRAY: strings as their UTF-8 bytes (a JSON value that is not a string as its text); JSON as its
 * text. From COPY text: a text field unescaped, a number as it is, bytea's `\\x` hex without the `\\x`,
 * json with COPY's escapes undone and its raw newlines and tabs as spaces (the transcoder's jsonField).
 */
export class ByteArrayBuffer extends ColumnBuffer {
  private data = Buffer.allocUnsafe(1 << 18);
  private view = viewOf(this.data);
  private pos = 0;
  /** where the last value starts (its length word) */
  private last = 0;

  constructor(
    column: ParquetColumn,
    capacity: number,
    private readonly unquote: boolean,
  ) {
    super(column, capacity);
  }

  protected value(src: Buffer, a: number, b: number, escaped: boolean): void {
    // the UTF-8 of a JSON string is never longer than its JSON text
    this.room(b - a);
    const start = this.pos + 4;
    let end: number;
    if (this.unquote && src[a] === QUOTE) end = escaped ? unescapeString(src, a, b, this.data, start) : this.copy(src, a + 1, b - 1, start);
    else end = this.copy(src, a, b, start);
    this.commit(start, end);
  }

  protected copyValue(src: Buffer, f: number, fe: number): boolean {
    // a COPY field's bytes are never fewer than what it stands for
    this.room(fe - f);
    const start = this.pos + 4;
    let end: number;
    switch (this.column.source) {
      case 'number':
        if (isNullNumber(src, f, fe)) return false;
        checkNumberText(src, f, fe);
        end = this.copy(src, f, fe, start);
        break;
      case 'bytea':
        // `\\x` and hex digits; bytea_output = escape (or anything else) is the transcoder's to read
        if (fe - f < 3 || src[f] !== BS || src[f + 1] !== BS || src[f + 2] !== 120) throw COPY_FALLBACK;
        for (let i = f + 3; i < fe; i++) if (src[i] === BS) throw COPY_FALLBACK;
        end = this.copy(src, f + 3, fe, start);
        break;
      case 'json':
        end = this.unescape(src, f, fe, start, true);
        // as a record's value is read: without the whitespace after it, a 4-byte word starting with n as null,
        // and only if it is one value there (json's own input check makes it one; hostile bytes may not)
        if (end === start || this.data[start]! <= SPACE) throw COPY_FALLBACK;
        while (this.data[end - 1]! <= SPACE) end--;
        if (jsonValueEnd(this.data, start, end) !== end) throw COPY_FALLBACK;
        if (end - start === 4 && this.data[start] === 110) return false;
        break;
      default:
        end = this.unescape(src, f, fe, start, false);
    }
    this.commit(start, end);
    return true;
  }

  /**
   * COPY text's escapes undone, 4 bytes at a time while none is a backslash. Json: \n \r \t are raw
   * newlines, returns and tabs, which the transcoder writes as spaces. Any other escape (octal, hex, a
   * backslash ending the field) is the transcoder's to read.
   */
  private unescape(src: Buffer, f: number, fe: number, o: number, json: boolean): number {
    const sv = sourceView(src);
    const view = this.view;
    const data = this.data;
    let i = f;
    for (;;) {
      for (let w = 0; i + 4 <= fe && !hasBackslash((w = sv.getInt32(i, true))); i += 4, o += 4) view.setInt32(o, w, true);
      for (; i < fe && src[i] !== BS; i++) data[o++] = src[i]!;
      if (i >= fe) return o;
      const c = src[i + 1]!;
      const byte = i + 1 < fe && c < 128 ? COPY_ESCAPES[c]! : 0;
      if (byte === 0 || (json && byte !== 10 && byte !== 13 && byte !== 9 && byte !== BS)) throw COPY_FALLBACK;
      data[o++] = json && byte !== BS ? SPACE : byte;
      i += 2;
    }
  }

  private room(n: number): void {
    if (this.pos + 8 + n > this.data.length) this.grow(8 + n);
  }

  private commit(start: number, end: number): void {
    this.view.setUint32(this.pos, end - start, true);
    this.last = this.pos;
    this.pos = end;
  }

  protected dropLast(): void {
    this.pos = this.last;
  }

  /** src[from..to) to data[o…]: 4 bytes at a time (a native copy costs more than the short values it would move) */
  private copy(src: Buffer, from: number, to: number, o: number): number {
    if (to - from >= 256) return o + src.copy(this.data, o, from, to);
    const sv = sourceView(src);
    const view = this.view;
    let i = from;
    for (; i + 4 <= to; i += 4, o += 4) view.setInt32(o, sv.getInt32(i, true), true);
    const data = this.data;
    for (; i < to; i++) data[o++] = src[i]!;
    return o;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.pos + need));
    this.data.copy(next, 0, 0, this.pos);
    this.data = next;
    this.view = viewOf(next);
  }

  plain(): Buffer {
    return this.data.subarray(0, this.pos);
  }

  get bytes(): number {
    return this.pos;
  }

  protected clear(): void {
    this.pos = 0;
    // a row group of large values leaves a large buffer: let it go rather than keep it for the run
    if (this.data.length > 1 << 24) {
      this.data = Buffer.allocUnsafe(1 << 18);
      this.view = viewOf(this.data);
    }
  }
}

/** True when one of the 4 bytes of `w` is a backslash (a SWAR zero-byte test of w ^ 0x5c5c5c5c). */
function hasBackslash(w: number): boolean {
  const x = w ^ 0x5c5c5c5c;
  return ((x - 0x01010101) & ~x & 0x80808080) !== 0;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** a view of the batch being read, made once per batch rather than once per value */
let lastSource: Buffer | undefined;
let lastView: DataView | undefined;

function sourceView(src: Buffer): DataView {
  if (src !== lastSource) {
    lastSource = src;
    lastView = viewOf(src);
  }
  return lastView!;
}
