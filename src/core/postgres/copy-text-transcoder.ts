import type { ValueKind } from './type-mapping.js';
import { jsonValueText } from './value-json.js';
import { BATCH_BYTES, releaseBatchBuffer, takeBatchBuffer } from '../singer/output-buffers.js';
import { recordPrefix, recordSuffix, type EncodeOptions, type RecordBatch, type RecordEncoder } from './record-encoder.js';

const TAB = 9, NL = 10, CR = 13, BS = 92, QUOTE = 34, SPACE = 32;
const HEX = Buffer.from('0123456789abcdef');
const NULL = Buffer.from('null'), TRUE = Buffer.from('true'), FALSE = Buffer.from('false');
const KIND: Record<ValueKind, number> = { integer: 0, number: 1, boolean: 2, string: 3, json: 4, timestamptz: 5, timestamp: 5, date: 6, bytea: 7 };

/**
 * The fast decoder: reads `COPY … TO STDOUT` in text format (tab-separated, `\N` for NULL, backslash
 * escapes) and writes RECORD lines straight into 1 MB buffers, byte by byte, with no per-row objects.
 * COPY's escapes (\n \t \r \b \f \\) are JSON's escapes too, so strings are copied almost as they are.
 * It must produce exactly what `jsonValueText` (value-json.ts) produces; a unit test checks that.
 */
export class CopyTextTranscoder implements RecordEncoder {
  readonly name = 'copy-text';
  readonly copyOptions = '';

  handles(_kinds: readonly ValueKind[]): boolean {
    return true;
  }

  async *encode(copyOut: AsyncIterable<Buffer>, options: EncodeOptions): AsyncGenerator<RecordBatch> {
    const w = new RowWriter(options);
    try {
      yield* this.rows(copyOut, options, w);
    } finally {
      w.dispose();
    }
  }

  private async *rows(copyOut: AsyncIterable<Buffer>, options: EncodeOptions, w: RowWriter): AsyncGenerator<RecordBatch> {
    const pending: Buffer[] = [];
    for await (const data of copyOut) {
      let pos = 0;
      if (pending.length > 0) {
        // a row split across chunks: join its pieces only, not the rest of this chunk
        const nl = data.indexOf(NL);
        if (nl < 0) {
          pending.push(data);
          continue;
        }
        pending.push(data.subarray(0, nl + 1));
        const row = Buffer.concat(pending);
        pending.length = 0;
        while (w.full(row.length - 1)) yield w.take();
        w.row(row, 0, row.length - 1);
        pos = nl + 1;
        if (w.rows >= options.maxRows) yield w.take();
      }
      for (;;) {
        const end = data.indexOf(NL, pos);
        if (end < 0) break;
        while (w.full(end - pos)) yield w.take();
        w.row(data, pos, end);
        pos = end + 1;
        if (w.rows >= options.maxRows) yield w.take();
      }
      if (pos < data.length) pending.push(data.subarray(pos));
    }
    if (pending.length > 0 && Buffer.concat(pending).length > 0) {
      throw new Error('COPY output ended in the middle of a row');
    }
    if (w.rows > 0) yield w.take();
  }
}

class RowWriter {
  private out = takeBatchBuffer();
  private pos = 0;
  rows = 0;
  private readonly prefix: Buffer;
  private readonly suffix: Buffer;
  private readonly names: Buffer[];
  private readonly kinds: number[];
  private readonly fixed: number;
  private readonly tracks: boolean[];
  /** the last row whose tracked values are not JSON null (see RecordBatch.last) */
  private lastBuf: Buffer | undefined;
  private lastStart = 0;
  private lastEnd = 0;

  constructor(private readonly options: EncodeOptions) {
    this.prefix = Buffer.from(recordPrefix(options.stream));
    this.suffix = Buffer.from(recordSuffix(options));
    this.names = options.columns.map((c, i) => Buffer.from(`${i === 0 ? '' : ','}${JSON.stringify(c.name)}:`));
    this.kinds = options.columns.map((c) => KIND[c.kind]);
    this.tracks = options.columns.map((_, i) => options.track.includes(i));
    this.fixed = this.prefix.length + this.suffix.length + this.names.reduce((n, b) => n + b.length + 8, 0);
  }

  /**
   * True when a row of this many input bytes might not fit the current batch: take it, then ask again
   * (an empty batch grows to fit the row, so a row bigger than a batch is never cut).
   */
  full(rowBytes: number): boolean {
    const worst = this.fixed + rowBytes * 6;
    if (this.pos + worst <= this.out.length) return false;
    if (this.rows === 0) {
      releaseBatchBuffer(this.out);
      this.out = Buffer.allocUnsafe(Math.max(BATCH_BYTES, worst));
      return false;
    }
    return true;
  }

  take(): RecordBatch {
    const bytes = this.out.subarray(0, this.pos);
    const batch: RecordBatch = { bytes, rows: this.rows, last: this.tracked() };
    this.out = takeBatchBuffer();
    this.pos = 0;
    this.rows = 0;
    return batch;
  }

  /** The buffer being filled was never handed out: it can go back to the pool. */
  dispose(): void {
    releaseBatchBuffer(this.out);
  }

  row(src: Buffer, start: number, end: number): void {
    if (end > start && src[end - 1] === CR) {
      /* text format never ends a row with CR; a CR here is data escaped as \r, so nothing to strip */
    }
    let o = this.pos;
    const out = this.out;
    o += copyAll(this.prefix, out, o);
    let f = start;
    const n = this.kinds.length;
    let bookmarkable = true;
    for (let i = 0; i < n; i++) {
      const kind = this.kinds[i]!;
      o += copyAll(this.names[i]!, out, o);
      const v = o;
      let fe = f;
      if (kind <= 1) {
        // integer or number: plain ASCII, copied while looking for the field's end (one pass, not two)
        for (let b = src[fe]; fe < end && b !== TAB; b = src[++fe]) out[o++] = b!;
        if (fe - f === 2 && src[f] === BS && src[f + 1] === 78 /* N */) o = v + copyAll(NULL, out, v);
        else if (kind === 1) o = numberOrNull(src, f, out, v, o);
      } else {
        // fields are short: a loop is cheaper than a native Buffer#indexOf call per field, up to a point
        const stop = end - f > 48 ? f + 48 : end;
        while (fe < stop && src[fe] !== TAB) fe++;
        if (fe === stop && stop < end) {
          fe = src.indexOf(TAB, stop);
          if (fe < 0 || fe > end) fe = end;
        }
        if (fe - f === 2 && src[f] === BS && src[f + 1] === 78 /* N */) o += copyAll(NULL, out, o);
        else o = this.value(kind, src, f, fe, o);
      }
      if (i === n - 1 && fe !== end) throw new Error(`COPY row has more fields than the ${n} selected columns`);
      if (i < n - 1 && fe === end) throw new Error(`COPY row has fewer fields than the ${n} selected columns`);
      // a JSON value that starts with 'n' is null: NULL, or infinity/NaN/BC that JSON cannot hold
      if (this.tracks[i] && out[v] === 110) bookmarkable = false;
      f = fe + 1;
    }
    if (n === 0 && end !== start) throw new Error('COPY row has fields but no column is selected');
    o += copyAll(this.suffix, out, o);
    this.pos = o;
    this.rows++;
    if (bookmarkable) {
      this.lastBuf = src;
      this.lastStart = start;
      this.lastEnd = end;
    }
  }

  private value(kind: number, s: Buffer, f: number, e: number, o: number): number {
    const out = this.out;
    switch (kind) {
      // 0 integer and 1 number are copied by row() as it finds their end
      case 2:
        return o + copyAll(s[f] === 116 ? TRUE : FALSE, out, o);
      case 3:
        return this.string(s, f, e, o);
      case 4:
        return this.json(s, f, e, o);
      case 5:
        return timestamp(s, f, e, out, o);
      case 6:
        if (e - f === 10 && isDate(s, f)) {
          out[o++] = QUOTE;
          o += copyBytes(s, out, o, f, e);
          out[o++] = QUOTE;
          return o;
        }
        return o + copyAll(NULL, out, o);
      default: { // bytea: \\x0aff -> "0aff"
        out[o++] = QUOTE;
        const from = e - f >= 3 && s[f] === BS && s[f + 1] === BS && s[f + 2] === 120 ? f + 3 : f;
        o = this.string(s, from, e, o, false);
        out[o++] = QUOTE;
        return o;
      }
    }
  }

  /** COPY text -> JSON string. COPY escapes \b \f \n \r \t \\ are JSON escapes already; \v and raw controls become \u00XX. */
  private string(s: Buffer, f: number, e: number, o: number, quote = true): number {
    const out = this.out;
    if (quote) out[o++] = QUOTE;
    let run = f;
    for (let i = f; i < e; i++) {
      const b = s[i]!;
      if (b === BS) {
        if (i > run) o += copyBytes(s, out, o, run, i);
        const c = s[++i]!;
        if (c === 110 || c === 116 || c === 114 || c === 98 || c === 102 || c === BS) {
          out[o++] = BS;
          out[o++] = c;
        } else {
          o = this.unusualEscape(s, i, e, o);
          i = this.escapeEnd(s, i, e) - 1;
        }
        run = i + 1;
      } else if (b === QUOTE || b < SPACE) {
        if (i > run) o += copyBytes(s, out, o, run, i);
        o = escapeByte(b, out, o);
        run = i + 1;
      }
    }
    if (e > run) o += copyBytes(s, out, o, run, e);
    if (quote) out[o++] = QUOTE;
    return o;
  }

  /** \v, octal \NNN and hex \xHH escapes, which PostgreSQL's output does not use but its input allows. */
  private unusualEscape(s: Buffer, i: number, e: number, o: number): number {
    const c = s[i]!;
    if (c === 118) return escapeByte(11, this.out, o);
    const end = this.escapeEnd(s, i, e);
    let byte: number;
    if (c >= 48 && c <= 55) byte = parseInt(s.toString('latin1', i, end), 8) & 0xff;
    else if (c === 120 && end > i + 1) byte = parseInt(s.toString('latin1', i + 1, end), 16);
    else return escapeByte(c, this.out, o);
    return escapeByte(byte, this.out, o);
  }

  private escapeEnd(s: Buffer, i: number, e: number): number {
    const c = s[i]!;
    let j = i + 1;
    if (c >= 48 && c <= 55) while (j < e && j < i + 3 && s[j]! >= 48 && s[j]! <= 55) j++;
    else if (c === 120) while (j < e && j < i + 3 && isHex(s[j]!)) j++;
    return j;
  }

  /** json/jsonb text: unescape COPY's escapes; a raw newline or tab in json is whitespace, so it becomes a space. */
  private json(s: Buffer, f: number, e: number, o: number): number {
    const out = this.out;
    let run = f;
    for (let i = f; i < e; i++) {
      if (s[i] !== BS) continue;
      if (i > run) o += copyBytes(s, out, o, run, i);
      const c = s[++i]!;
      out[o++] = c === BS ? BS : c === 110 || c === 116 || c === 114 ? SPACE : c;
      run = i + 1;
    }
    if (e > run) o += copyBytes(s, out, o, run, e);
    return o;
  }

  private tracked(): string[] | undefined {
    const track = this.options.track;
    if (track.length === 0 || !this.lastBuf) return undefined;
    const fields = decodeFields(this.lastBuf, this.lastStart, this.lastEnd);
    return track.map((i) => (fields[i] === null ? 'null' : jsonValueText(this.options.columns[i]!.kind, fields[i]!)));
  }
}

/**
 * `src[from..to)` into `out` at `o`; returns the length. A row is a dozen runs of a few bytes (a
 * value, a column name, the record's prefix and suffix). Buffer#copy of part of a buffer allocates a
 * Uint8Array view per call (node 20's _copyActual): at a dozen calls a row that was most of the GC
 * time. Runs up to 64 bytes go byte by byte; longer ones are rare (long strings) and worth the view.
 */
function copyBytes(src: Buffer, out: Buffer, o: number, from: number, to: number): number {
  const n = to - from;
  if (n > 64) return src.copy(out, o, from, to);
  for (let i = 0; i < n; i++) out[o + i] = src[from + i]!;
  return n;
}

/** All of `src` (a record's prefix or suffix, a column name, a literal): TypedArray#set needs no view. */
function copyAll(src: Buffer, out: Buffer, o: number): number {
  const n = src.length;
  if (n > 16) out.set(src, o);
  else for (let i = 0; i < n; i++) out[o + i] = src[i]!;
  return n;
}

/** A number copied to `out[v..o)`: NaN, Infinity and -Infinity, which JSON cannot hold, become null. */
function numberOrNull(s: Buffer, f: number, out: Buffer, v: number, o: number): number {
  const c = s[f] === 45 ? s[f + 1] : s[f];
  return c === 78 || c === 73 ? v + copyAll(NULL, out, v) : o;
}

function escapeByte(b: number, out: Buffer, o: number): number {
  out[o++] = BS;
  switch (b) {
    case QUOTE: out[o++] = QUOTE; return o;
    case BS: out[o++] = BS; return o;
    case NL: out[o++] = 110; return o;
    case CR: out[o++] = 114; return o;
    case TAB: out[o++] = 116; return o;
    case 8: out[o++] = 98; return o;
    case 12: out[o++] = 102; return o;
  }
  if (b >= SPACE) {
    // a printable byte from an unusual escape: write it plainly
    out[o - 1] = b;
    return o;
  }
  out[o++] = 117; out[o++] = 48; out[o++] = 48;
  out[o++] = HEX[b >> 4]!;
  out[o++] = HEX[b & 15]!;
  return o;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 48 && b <= 57;
}

function isHex(b: number): boolean {
  return (b >= 48 && b <= 57) || (b >= 97 && b <= 102) || (b >= 65 && b <= 70);
}

function isDate(s: Buffer, f: number): boolean {
  return isDigit(s[f]) && isDigit(s[f + 1]) && isDigit(s[f + 2]) && isDigit(s[f + 3]) && s[f + 4] === 45 &&
    isDigit(s[f + 5]) && isDigit(s[f + 6]) && s[f + 7] === 45 && isDigit(s[f + 8]) && isDigit(s[f + 9]);
}

/** '2024-01-01 10:00:00[.ffffff][+00]' -> "2024-01-01T10:00:00[.ffffff]Z"; anything else (infinity, BC, year > 9999) -> null */
function timestamp(s: Buffer, f: number, e: number, out: Buffer, o: number): number {
  let end = e;
  if (end - f >= 22 && s[end - 3] === 43 && s[end - 2] === 48 && s[end - 1] === 48) end -= 3;
  let ok = end - f >= 19 && isDate(s, f) && s[f + 10] === SPACE && isDigit(s[f + 11]) && isDigit(s[f + 12]) && s[f + 13] === 58 &&
    isDigit(s[f + 14]) && isDigit(s[f + 15]) && s[f + 16] === 58 && isDigit(s[f + 17]) && isDigit(s[f + 18]);
  if (ok && end - f > 19) {
    ok = s[f + 19] === 46 && end - f > 20;
    for (let i = f + 20; ok && i < end; i++) ok = isDigit(s[i]);
  }
  if (!ok) return o + copyAll(NULL, out, o);
  out[o++] = QUOTE;
  o += copyBytes(s, out, o, f, f + 10);
  out[o++] = 84; // T
  o += copyBytes(s, out, o, f + 11, end);
  out[o++] = 90; // Z
  out[o++] = QUOTE;
  return o;
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
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'v': return '\v';
      default: return c;
    }
  });
}
