/**
 * pgoutput's row changes (protocol 1: Insert, Update, Delete) read from the message bytes straight into
 * COPY text lines, the input of the record encoder. pg-logical-replication's parser makes an object of
 * every tuple (a UTF-8 decode and a property per value, the old tuple too) that the tap then turned back
 * into text: on 1M updated rows that was a third of the tap's CPU. Every other message (begin, commit,
 * relation, logical messages, truncate) is still read by the library's parser.
 *
 * A tuple is Int16 column count, then per column a kind byte: 'n' NULL, 'u' unchanged TOASTed value
 * (not in the WAL), 't' Int32 length and the value's text (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
 */

export const INSERT = 0x49;
export const UPDATE = 0x55;
export const DELETE = 0x44;

/** A row change: the relation's OID and where, in `data`, the tuple to emit starts (new row; a delete's key or old row). */
export interface RowMessage {
  readonly tag: 'insert' | 'update' | 'delete';
  readonly relationOid: number;
  readonly data: Buffer;
  readonly tuple: number;
  /**
   * An update's old tuple, where the WAL has one: 'K' the old key (sent when the key changed; the other
   * columns are null in it), 'O' the whole old row (REPLICA IDENTITY FULL: every update carries it, with
   * the TOASTed values in full). -1 when there is none.
   */
  readonly old: number;
  readonly oldKind?: 'key' | 'row';
}

/** The row change in an I, U or D message, or undefined for any other message. */
export function rowMessage(data: Buffer): RowMessage | undefined {
  const kind = data[0];
  if (kind !== INSERT && kind !== UPDATE && kind !== DELETE) return undefined;
  const relationOid = data.readUInt32BE(1);
  let at = 5;
  let sub = data[at++];
  let old = -1;
  let oldKind: RowMessage['oldKind'];
  if (kind === UPDATE && (sub === 0x4b || sub === 0x4f)) {
    // an update's key ('K') or old row ('O') comes first: the record is the new row ('N') after it
    old = at;
    oldKind = sub === 0x4b ? 'key' : 'row';
    at = skipTuple(data, at);
    sub = data[at++];
  }
  if (kind === DELETE ? sub !== 0x4b && sub !== 0x4f : sub !== 0x4e) {
    throw new Error(`pgoutput: unexpected tuple kind ${String.fromCharCode(sub ?? 0)} in a ${String.fromCharCode(kind)} message`);
  }
  return { tag: kind === INSERT ? 'insert' : kind === UPDATE ? 'update' : 'delete', relationOid, data, tuple: at, old, oldKind };
}

function skipTuple(data: Buffer, at: number): number {
  const n = data.readInt16BE(at);
  at += 2;
  for (let i = 0; i < n; i++) {
    if (data[at++] === 0x74) at += 4 + data.readInt32BE(at);
  }
  return at;
}

/** Value lengths of a tuple's columns: NULL and UNCHANGED instead of a length. */
export const NULL = -1;
export const UNCHANGED = -2;

/** Reads a tuple's column positions into `starts`/`lengths` (reused per relation); returns the column count. */
export function readTuple(data: Buffer, at: number, starts: Int32Array, lengths: Int32Array): number {
  const n = data.readInt16BE(at);
  at += 2;
  if (n > starts.length) throw new Error(`pgoutput: a tuple of ${n} columns for a relation of ${starts.length}`);
  for (let i = 0; i < n; i++) {
    const kind = data[at++];
    if (kind === 0x74 /* t */) {
      const length = data.readInt32BE(at);
      starts[i] = at + 4;
      lengths[i] = length;
      at += 4 + length;
    } else if (kind === 0x6e /* n */) {
      lengths[i] = NULL;
    } else if (kind === 0x75 /* u */) {
      lengths[i] = UNCHANGED;
    } else {
      // 'b' (binary) only with the binary option, which the tap does not ask for
      throw new Error(`pgoutput: unexpected column kind ${String.fromCharCode(kind ?? 0)}`);
    }
  }
  return n;
}

/** COPY text lines built in one growing buffer: values escaped as COPY escapes them (\\, tab, newline, CR). */
export class CopyTextLines {
  private buffer = Buffer.allocUnsafe(1 << 16);
  private at = 0;
  rows = 0;

  /** a value's bytes, escaped */
  value(data: Buffer, start: number, length: number): void {
    this.reserve(length * 2);
    const out = this.buffer;
    let at = this.at;
    for (let i = start, end = start + length; i < end; i++) {
      const b = data[i]!;
      if (b === 0x5c || b === 0x09 || b === 0x0a || b === 0x0d) {
        out[at++] = 0x5c;
        out[at++] = b === 0x5c ? 0x5c : b === 0x09 ? 0x74 : b === 0x0a ? 0x6e : 0x72;
      } else out[at++] = b;
    }
    this.at = at;
  }

  /** text known to need no escaping (numbers, timestamps) */
  ascii(text: string): void {
    this.reserve(text.length);
    this.at += this.buffer.write(text, this.at, 'latin1');
  }

  null(): void {
    this.reserve(2);
    this.buffer[this.at++] = 0x5c;
    this.buffer[this.at++] = 0x4e;
  }

  /** a tab between values */
  tab(): void {
    this.reserve(1);
    this.buffer[this.at++] = 0x09;
  }

  endRow(): void {
    this.reserve(1);
    this.buffer[this.at++] = 0x0a;
    this.rows++;
  }

  /** The lines so far (a copy), and an empty builder. */
  take(): Buffer {
    const out = Buffer.from(this.buffer.subarray(0, this.at));
    this.at = 0;
    this.rows = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + n));
    this.buffer.copy(bigger, 0, 0, this.at);
    this.buffer = bigger;
  }
}

/** Splits COPY text lines back into values (null: \N), for the path that sends them to the server as literals. */
export function copyTextValues(text: Buffer): (string | null)[][] {
  const rows: (string | null)[][] = [];
  for (const line of text.toString('utf8').split('\n')) {
    if (line === '') continue;
    rows.push(line.split('\t').map((v) => (v === '\\N' ? null : v.replace(/\\([\\tnr])/g, unescape))));
  }
  return rows;
}

function unescape(_: string, c: string): string {
  return c === '\\' ? '\\' : c === 't' ? '\t' : c === 'n' ? '\n' : '\r';
}
