import type { ValueKind } from './type-mapping.js';
import { jsonValueText } from './value-json.js';
import {
  copyAll,
  copyBytes,
  decodeFields,
  escapeByte,
  FALSE,
  isDate,
  isHex,
  joinSplitRow,
  NULL,
  numberOrNull,
  timestamp,
  TRUE,
} from './copy-text-bytes.js';
import { BATCH_BYTES, releaseBatchBuffer, takeBatchBuffer } from '../singer/output-buffers.js';
import { recordPrefix, recordSuffix, type EncodeOptions, type RecordBatch, type RecordEncoder } from './record-encoder.js';

// local, not imported: an imported binding is a memory load in the hot loops, a local const folds away
const TAB = 9,
  NL = 10,
  CR = 13,
  BS = 92,
  QUOTE = 34,
  SPACE = 32;
const KIND: Record<ValueKind, number> = {
  integer: 0,
  number: 1,
  boolean: 2,
  string: 3,
  json: 4,
  timestamptz: 5,
  timestamp: 5,
  date: 6,
  bytea: 7,
};

/**
 * The fast decoder: reads `COPY … TO STDOUT` in text format (tab-separated, `\N` for NULL, backslash
 * escapes) and writes RECORD lines straight into 1 MB buffers, byte by byte, with no per-row objects.
 * COPY's escapes (\n \t \r \b \f \\) are JSON's escapes too, so strings are copied almost as they are.
 * It must produce exactly what `jsonValueText` (value-json.ts) produces; a unit test checks that.
 * Once it asks for the next input chunk it holds no view of the previous ones (a row split across chunks
 * and the bookmark row are kept as copies), so a caller may reuse a chunk's memory (transcode-worker.ts).
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
        const split = joinSplitRow(pending, data);
        if (!split) continue;
        const { row } = split;
        while (w.full(row.length - 1)) yield w.take();
        w.row(row, 0, row.length - 1);
        pos = split.next;
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
      if (pos < data.length) pending.push(Buffer.from(data.subarray(pos)));
      w.release(data);
    }
    if (pending.length > 0 && Buffer.concat(pending).length > 0) {
      throw new Error('COPY output ended in the middle of a row');
    }
    if (w.rows > 0) yield w.take();
  }
}

/**
 * One COPY text row as its RECORD line, made by the transcoder itself: what a reader of COPY text rows
 * (copy-row-scanner.ts) hands a row it does not read on its own, so the row becomes what the JSON path
 * makes of it, errors included.
 */
export class RowTranscoder {
  private readonly w: RowWriter;

  constructor(options: EncodeOptions) {
    this.w = new RowWriter(options);
  }

  /** The row src[start..end) (src[end] is its newline) as a RECORD line, a copy of its own. */
  line(src: Buffer, start: number, end: number): Buffer {
    // an empty writer grows to fit the row
    this.w.full(end - start);
    this.w.row(src, start, end);
    const { bytes } = this.w.take();
    const line = Buffer.from(bytes);
    releaseBatchBuffer(bytes);
    return line;
  }

  dispose(): void {
    this.w.dispose();
  }
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** `name` as little-endian 4-byte words, the last one padded with zeros. */
function wordsOf(name: Buffer): Uint32Array {
  const padded = Buffer.alloc(Math.ceil(name.length / 4) * 4);
  name.copy(padded);
  return Uint32Array.from({ length: padded.length / 4 }, (_, k) => padded.readUInt32LE(4 * k));
}

const TABS = 0x09090909,
  BACKSLASHES = 0x5c5c5c5c;

/** True when one of the 4 bytes of `w` is the byte repeated in `bytes` (a SWAR zero-byte test of w ^ bytes). */
function hasByte(w: number, bytes: number): boolean {
  const x = w ^ bytes;
  return ((x - 0x01010101) & ~x & 0x80808080) !== 0;
}

/** True when no byte of `w` is below 0x20, a quote or a backslash: a JSON string holds them as they are. */
function plain(w: number): boolean {
  const q = w ^ 0x22222222,
    b = w ^ BACKSLASHES;
  return ((((w - 0x20202020) & ~w) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) === 0;
}

/** True when the field `src[f..fe)` is COPY text's NULL, `\N`. */
function isCopyNull(src: Buffer, f: number, fe: number): boolean {
  return fe - f === 2 && src[f] === BS && src[f + 1] === 78; // N
}

/** The end of the field that starts at `f` (its TAB, or the row's end). */
function fieldEnd(src: Buffer, f: number, end: number): number {
  // fields are short: a loop is cheaper than a native Buffer#indexOf call per field, up to a point
  const stop = end - f > 48 ? f + 48 : end;
  let fe = f;
  while (fe < stop && src[fe] !== TAB) fe++;
  if (fe === stop && stop < end) {
    fe = src.indexOf(TAB, stop);
    if (fe < 0 || fe > end) fe = end;
  }
  return fe;
}

/**
 * Writes RECORD lines into a batch buffer. The constant bytes between two rows' values (the suffix of
 * one record, the prefix and first column name of the next) are written as one piece at the end of
 * each row: the buffer always ends with the next record's `head`, which take() leaves out.
 */
class RowWriter {
  // out, its view and pos change together, in begin()
  private out!: Buffer;
  /** `out` for 4-byte writes of the column names */
  private view!: DataView;
  private pos = 0;
  rows = 0;
  /** the record's prefix and the first column's name */
  private readonly head: Buffer;
  /** a record's suffix, then the next record's head */
  private readonly between: Buffer;
  private readonly names: Buffer[];
  /**
   * Each column name (with its comma and colon) as little-endian 4-byte words, its last word padded: a
   * name goes out in a few stores instead of one per byte. The padding lands where the value goes next.
   */
  private readonly nameWords: Uint32Array[];
  private readonly kinds: number[];
  private readonly fixed: number;
  private readonly tracks: boolean[];
  /** the last row whose tracked values are not JSON null (see RecordBatch.last) */
  private lastBuf: Buffer | undefined;
  private lastStart = 0;
  private lastEnd = 0;
  /** where the last stringField/jsonField stopped: its TAB, or the row's end */
  private fieldStop = 0;
  /** the input row()'s last call read, and a view of it for 4-byte reads */
  private src: Buffer | undefined;
  private srcView!: DataView;

  constructor(private readonly options: EncodeOptions) {
    this.names = options.columns.map((c, i) => Buffer.from(`${i === 0 ? '' : ','}${JSON.stringify(c.name)}:`));
    this.nameWords = this.names.map(wordsOf);
    // a record line, or the record alone (RowForm `records`: what a JSONL batch file holds)
    this.head = Buffer.from((options.recordsOnly ? '{' : recordPrefix(options.stream)) + (this.names[0]?.toString() ?? ''));
    this.between = Buffer.from((options.recordsOnly ? '}\n' : recordSuffix(options)) + this.head.toString());
    this.kinds = options.columns.map((c) => KIND[c.kind]);
    this.tracks = options.columns.map((_, i) => options.track.includes(i));
    this.fixed = this.between.length + this.names.reduce((n, b) => n + b.length + 8, 0);
    this.begin(takeBatchBuffer());
  }

  /** Starts filling `buffer`: it begins with the first record's head. */
  private begin(buffer: Buffer): void {
    this.out = buffer;
    this.view = viewOf(buffer);
    this.pos = copyAll(this.head, buffer, 0);
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
      this.begin(Buffer.allocUnsafe(Math.max(BATCH_BYTES, worst)));
      return false;
    }
    return true;
  }

  take(): RecordBatch {
    const bytes = this.out.subarray(0, this.pos - this.head.length);
    const batch: RecordBatch = { bytes, rows: this.rows, last: this.tracked() };
    this.begin(takeBatchBuffer());
    this.rows = 0;
    return batch;
  }

  /** The caller may reuse `src` once this returns: the last bookmarkable row, if it is there, is copied. */
  release(src: Buffer): void {
    this.src = undefined;
    if (this.lastBuf !== src) return;
    this.lastBuf = this.options.track.length === 0 ? undefined : Buffer.from(src.subarray(this.lastStart, this.lastEnd));
    this.lastEnd -= this.lastStart;
    this.lastStart = 0;
  }

  /** The buffer being filled was never handed out: it can go back to the pool. */
  dispose(): void {
    releaseBatchBuffer(this.out);
  }

  row(src: Buffer, start: number, end: number): void {
    if (end > start && src[end - 1] === CR) {
      /* text format never ends a row with CR; a CR here is data escaped as \r, so nothing to strip */
    }
    if (src !== this.src) {
      this.src = src;
      this.srcView = viewOf(src);
    }
    let o = this.pos;
    const out = this.out;
    const view = this.view;
    const sv = this.srcView;
    let f = start;
    const n = this.kinds.length;
    let bookmarkable = true;
    for (let i = 0; i < n; i++) {
      const kind = this.kinds[i]!;
      if (i > 0) {
        // full() leaves 8 bytes of room per name, so the padded last word always fits
        const words = this.nameWords[i]!;
        for (let k = 0; k < words.length; k++) view.setUint32(o + 4 * k, words[k]!, true);
        o += this.names[i]!.length;
      }
      const v = o;
      let fe = f;
      if (kind <= 1) {
        // integer or number: plain ASCII, copied while looking for the field's end (one pass, not two),
        // 4 bytes at a time while none of them is a TAB
        for (let w = 0; fe + 4 <= end && !hasByte((w = sv.getInt32(fe, true)), TABS); fe += 4, o += 4) view.setInt32(o, w, true);
        for (let b = src[fe]; fe < end && b !== TAB; b = src[++fe]) out[o++] = b!;
        if (isCopyNull(src, f, fe)) o = v + copyAll(NULL, out, v);
        else if (kind === 1) o = numberOrNull(src, f, out, v, o);
      } else if (kind === 5 && end - f >= 19) {
        // timestamp() checks that its first 19 bytes are digits and separators, so the TAB can only come
        // after them: the search starts there. If it writes null instead, the field is found anew.
        fe = f + 19;
        while (fe < end && src[fe] !== TAB) fe++;
        o = timestamp(sv, src, f, fe, view, out, o);
        if (out[v] !== QUOTE) {
          fe = fieldEnd(src, f, end);
          o = isCopyNull(src, f, fe) ? v + copyAll(NULL, out, v) : timestamp(sv, src, f, fe, view, out, v);
        }
      } else if (kind === 3 || kind === 4) {
        // text and json: copied while their end is found, one pass instead of three (find the TAB, look
        // for escapes, copy the runs between them); on the table json was a tenth of the CPU
        if (src[f] === BS && src[f + 1] === 78 && (f + 2 === end || src[f + 2] === TAB)) {
          o += copyAll(NULL, out, o);
          fe = f + 2;
        } else {
          o = kind === 3 ? this.stringField(src, f, end, o) : this.jsonField(src, f, end, o);
          fe = this.fieldStop;
        }
      } else {
        fe = fieldEnd(src, f, end);
        if (isCopyNull(src, f, fe)) o += copyAll(NULL, out, o);
        else o = this.value(kind, src, f, fe, o);
      }
      if (i === n - 1 && fe !== end) throw new Error(`COPY row has more fields than the ${n} selected columns`);
      if (i < n - 1 && fe === end) throw new Error(`COPY row has fewer fields than the ${n} selected columns`);
      // a JSON value that starts with 'n' is null: NULL, or infinity/NaN/BC that JSON cannot hold
      if (this.tracks[i] && out[v] === 110) bookmarkable = false;
      f = fe + 1;
    }
    if (n === 0 && end !== start) throw new Error('COPY row has fields but no column is selected');
    o += copyAll(this.between, out, o);
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
      // 0 integer and 1 number, 3 text and 4 json are copied by row() as it finds their end
      case 2:
        return o + copyAll(s[f] === 116 ? TRUE : FALSE, out, o);
      case 5:
        return timestamp(this.srcView, s, f, e, this.view, out, o);
      case 6:
        if (e - f === 10 && isDate(s, f)) {
          out[o++] = QUOTE;
          o += copyBytes(s, out, o, f, e);
          out[o++] = QUOTE;
          return o;
        }
        return o + copyAll(NULL, out, o);
      default: {
        // bytea: \\x0aff -> "0aff"
        out[o++] = QUOTE;
        const from = e - f >= 3 && s[f] === BS && s[f + 1] === BS && s[f + 2] === 120 ? f + 3 : f;
        o = this.string(s, from, e, o, false);
        out[o++] = QUOTE;
        return o;
      }
    }
  }

  /**
   * A text field from `f` up to its TAB (or the row's `end`) as a JSON string, like string(): the
   * field's end goes to `fieldStop`. A backslash just before the TAB (never in PostgreSQL's output) ends
   * the field there, as string() after fieldEnd() did, so hostile input gives the same bytes.
   */
  private stringField(s: Buffer, f: number, end: number, o: number): number {
    const out = this.out;
    const sv = this.srcView;
    const view = this.view;
    out[o++] = QUOTE;
    let i = f;
    // 4 bytes at a time while none needs a look: no control byte (TAB among them), quote or backslash
    for (let w = 0; i + 4 <= end && plain((w = sv.getInt32(i, true))); i += 4, o += 4) view.setInt32(o, w, true);
    for (; i < end; i++) {
      const b = s[i]!;
      if (b > QUOTE && b !== BS) {
        out[o++] = b;
      } else if (b === TAB) {
        break;
      } else if (b === BS) {
        const c = s[++i]!;
        if (c === 110 || c === 116 || c === 114 || c === 98 || c === 102 || c === BS) {
          out[o++] = BS;
          out[o++] = c;
        } else if (c === TAB || i >= end) {
          o = escapeByte(c, out, o);
          break;
        } else {
          o = this.unusualEscape(s, i, end, o);
          i = this.escapeEnd(s, i, end) - 1;
        }
      } else if (b === QUOTE || b < SPACE) {
        o = escapeByte(b, out, o);
      } else {
        out[o++] = b;
      }
    }
    out[o++] = QUOTE;
    this.fieldStop = i > end ? end : i;
    return o;
  }

  /** A json field from `f` up to its TAB: COPY's escapes undone; a raw newline or tab in json is whitespace, so it becomes a space. */
  private jsonField(s: Buffer, f: number, end: number, o: number): number {
    const out = this.out;
    const sv = this.srcView;
    const view = this.view;
    let i = f;
    // 4 bytes at a time while none is a TAB or a backslash
    for (let w = 0; i + 4 <= end && !hasByte((w = sv.getInt32(i, true)), TABS) && !hasByte(w, BACKSLASHES); i += 4, o += 4) {
      view.setInt32(o, w, true);
    }
    for (; i < end; i++) {
      const b = s[i]!;
      if (b === TAB) break;
      if (b !== BS) {
        out[o++] = b;
        continue;
      }
      const c = s[++i]!;
      out[o++] = c === BS ? BS : c === 110 || c === 116 || c === 114 ? SPACE : c;
      if (c === TAB || i >= end) break;
    }
    this.fieldStop = i > end ? end : i;
    return o;
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

  private tracked(): string[] | undefined {
    const track = this.options.track;
    if (track.length === 0 || !this.lastBuf) return undefined;
    const fields = decodeFields(this.lastBuf, this.lastStart, this.lastEnd);
    return track.map((i) => (fields[i] === null ? 'null' : jsonValueText(this.options.columns[i]!.kind, fields[i]!)));
  }
}
