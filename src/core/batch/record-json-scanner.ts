import type { ColumnBuffer } from './parquet-column-buffers.js';
import { ValueTextError } from './json-value-text.js';

const QUOTE = 34,
  BS = 92,
  COMMA = 44,
  COLON = 58,
  OPEN = 123,
  CLOSE = 125,
  OPEN_SQ = 91,
  CLOSE_SQ = 93,
  SPACE = 32;

/**
 * Splits record lines (`{"a":1,"b":"x"}` each, as BATCH JSONL holds them) into their columns' buffers, byte
 * by byte. The tap's encoders write every property in the SCHEMA's order, which is checked first; any other
 * order (a record transform's) is found by name. A missing property is null; a property the SCHEMA does not
 * describe, or one given twice, throws rather than be dropped.
 */
export class RecordJsonScanner {
  private readonly keys: Buffer[];
  private readonly byName = new Map<string, number>();
  /** the row each column last got a value in */
  private readonly seen: Int32Array;
  private row = 0;

  constructor(private readonly buffers: readonly ColumnBuffer[]) {
    this.keys = buffers.map((b) => Buffer.from(JSON.stringify(b.column.name)));
    buffers.forEach((b, i) => this.byName.set(b.column.name, i));
    this.seen = new Int32Array(buffers.length).fill(-1);
  }

  /** One record: the JSON object that starts at `start` (spaces before it allowed), ending before `end`; returns the index after its `}`. */
  scan(src: Buffer, start: number, end: number): number {
    const row = ++this.row;
    const buffers = this.buffers;
    const seen = this.seen;
    let i = start;
    // JSON's whitespace (space, tab, CR, LF) is all below 0x21, as is nothing else valid outside a string
    while (src[i]! <= SPACE) i++;
    if (src[i] !== OPEN) throw this.bad(src, start, end, 'a record is not a JSON object');
    i++;
    let next = 0;
    let count = 0;
    for (;;) {
      while (src[i]! <= SPACE) i++;
      if (src[i] === CLOSE) break;
      if (src[i] !== QUOTE) throw this.bad(src, start, end, 'expected a property name');
      const col = this.keyAt(src, i, end, next);
      i = this.keyEnd;
      while (src[i]! <= SPACE) i++;
      if (src[i] !== COLON) throw this.bad(src, start, end, 'expected a colon');
      i++;
      while (src[i]! <= SPACE) i++;
      const a = i;
      const c = src[i];
      i = jsonValueEnd(src, i, end);
      const escaped = c === QUOTE && stringEscaped;
      if (i > end) throw this.bad(src, start, end, 'a value is cut short');
      if (seen[col] === row) throw this.bad(src, start, end, `property ${buffers[col]!.column.name} appears twice`);
      seen[col] = row;
      if (c === 110 && i - a === 4) buffers[col]!.appendNull();
      else buffers[col]!.append(src, a, i, escaped);
      next = col + 1;
      count++;
      while (src[i]! <= SPACE) i++;
      if (src[i] === COMMA) i++;
      else if (src[i] !== CLOSE) throw this.bad(src, start, end, 'expected a comma or the end of the record');
    }
    if (count !== buffers.length) for (let k = 0; k < buffers.length; k++) if (seen[k] !== row) buffers[k]!.appendNull();
    return i + 1;
  }

  private keyEnd = 0;

  /** The column of the property name at `i` (its opening quote); sets keyEnd past its closing quote. */
  private keyAt(src: Buffer, i: number, end: number, next: number): number {
    const expected = this.keys[next];
    if (expected && i + expected.length <= end) {
      let k = 0;
      while (k < expected.length && src[i + k] === expected[k]) k++;
      if (k === expected.length) {
        this.keyEnd = i + k;
        return next;
      }
    }
    this.keyEnd = stringEnd(src, i + 1, end);
    const name = JSON.parse(src.toString('utf8', i, this.keyEnd)) as string;
    const col = this.byName.get(name);
    if (col === undefined)
      throw new ValueTextError(`the record has a property the stream's SCHEMA does not describe: ${JSON.stringify(name)}`);
    return col;
  }

  private bad(src: Buffer, start: number, end: number, what: string): ValueTextError {
    return new ValueTextError(`${what}: ${src.toString('utf8', start, Math.min(end, start + 120))}`);
  }
}

/** set by stringEnd: the string it passed holds a backslash */
let stringEscaped = false;

/**
 * Where the JSON value that starts at `i` ends, as a record's value is read: a string at its closing quote,
 * an object or array at its closing bracket, anything else at a comma, a brace or a byte up to a space.
 * Past `end` when it is cut short.
 */
export function jsonValueEnd(src: Buffer, i: number, end: number): number {
  const c = src[i];
  if (c === QUOTE) return stringEnd(src, i + 1, end);
  if (c === OPEN || c === OPEN_SQ) return nestedEnd(src, i, end);
  while (i < end && src[i] !== COMMA && src[i] !== CLOSE && src[i]! > SPACE) i++;
  return i;
}

/** Past the closing quote of the string whose content starts at `i`; sets `stringEscaped`. */
function stringEnd(src: Buffer, i: number, end: number): number {
  let escaped = false;
  for (; i < end; i++) {
    const b = src[i];
    if (b === QUOTE) break;
    if (b === BS) {
      escaped = true;
      i++;
    }
  }
  stringEscaped = escaped;
  return i + 1;
}

/** The end of the object or array that starts at `i`. */
function nestedEnd(src: Buffer, i: number, end: number): number {
  let depth = 0;
  for (; i < end; i++) {
    const b = src[i];
    if (b === QUOTE) i = stringEnd(src, i + 1, end) - 1;
    else if (b === OPEN || b === OPEN_SQ) depth++;
    else if ((b === CLOSE || b === CLOSE_SQ) && --depth === 0) return i + 1;
  }
  return end + 1;
}
