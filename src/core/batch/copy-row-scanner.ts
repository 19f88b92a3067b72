import { RowTranscoder } from '../postgres/copy-text-transcoder.js';
import { recordPrefix } from '../postgres/record-encoder.js';
import { COPY_FALLBACK, doubleBitsText, timestampBitsText } from './copy-value-text.js';
import type { ColumnBuffer } from './parquet-column-buffer.js';
import { RecordJsonScanner } from './record-json-scanner.js';

const TAB = 9,
  BS = 92,
  TABS = 0x09090909;

/**
 * Splits COPY text rows (tab-separated, `\N` for NULL: RowForm `copy-text`) into their columns' buffers,
 * each field read by ColumnBuffer.appendCopy as the transcoder's JSON of it would be. A row it does not
 * read alone (a field in a shape PostgreSQL does not write, a missing or extra field) is taken back and
 * handed to the transcoder, whose RECORD line is read as a BATCH file's JSON is: the row becomes what the
 * JSON path makes of it, errors included.
 */
export class CopyRowScanner {
  private fallback: RowTranscoder | undefined;
  private json: RecordJsonScanner | undefined;
  private src: Buffer | undefined;
  private view!: DataView;

  constructor(private readonly buffers: readonly ColumnBuffer[]) {}

  /** The row src[start..end); src[end] is its newline. */
  row(src: Buffer, start: number, end: number): void {
    if (src !== this.src) {
      this.src = src;
      this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    }
    const buffers = this.buffers;
    const n = buffers.length;
    const view = this.view;
    let f = start;
    let i = 0;
    try {
      for (; i < n; i++) {
        // the field's end: its TAB, 4 bytes at a time while none of them is one, or the row's end
        let fe = f;
        while (fe + 4 <= end && !hasTab(view.getInt32(fe, true))) fe += 4;
        while (fe < end && src[fe] !== TAB) fe++;
        if (fe === end ? i !== n - 1 : i === n - 1) throw COPY_FALLBACK;
        if (fe - f === 2 && src[f] === BS && src[f + 1] === 78) buffers[i]!.appendNull();
        else buffers[i]!.appendCopy(src, f, fe);
        f = fe + 1;
      }
      if (n === 0) throw COPY_FALLBACK;
    } catch (err) {
      if (err !== COPY_FALLBACK) throw err;
      for (let k = 0; k < i; k++) buffers[k]!.undoLast();
      this.transcoded(src, start, end);
    }
  }

  private transcoded(src: Buffer, start: number, end: number): void {
    this.fallback ??= new RowTranscoder({
      stream: '',
      columns: this.buffers.map((b) => ({ name: b.column.name, kind: b.column.source })),
      timeExtracted: '',
      track: [],
      maxRows: 1,
    });
    this.json ??= new RecordJsonScanner(this.buffers);
    const row = this.withValueText(src, start, end);
    const line = row ? this.fallback.line(row, 0, row.length - 1) : this.fallback.line(src, start, end);
    this.json.scan(line, recordPrefix('').length - 1, line.length);
  }

  /**
   * The row with its doubles' and timestamps' binary fields (CopyRunner.selectSql sends them so) as the
   * text the server writes of them, which the transcoder reads; undefined when it has none.
   */
  private withValueText(src: Buffer, start: number, end: number): Buffer | undefined {
    const fields = src.toString('latin1', start, end).split('\t');
    let changed = false;
    this.buffers.forEach((b, i) => {
      const field = fields[i];
      if (field === undefined) return;
      const { kind, source } = b.column;
      const text =
        kind === 'double' ? doubleBitsText(field) : kind === 'timestamp' ? timestampBitsText(field, source === 'timestamptz') : undefined;
      if (text === undefined) return;
      fields[i] = text;
      changed = true;
    });
    return changed ? Buffer.from(`${fields.join('\t')}\n`, 'latin1') : undefined;
  }

  /** Gives back the transcoder's buffer, if a row needed it. */
  dispose(): void {
    this.fallback?.dispose();
    this.fallback = undefined;
  }
}

/** True when one of the 4 bytes of `w` is a TAB (a SWAR zero-byte test of w ^ 0x09090909). */
function hasTab(w: number): boolean {
  const x = w ^ TABS;
  return ((x - 0x01010101) & ~x & 0x80808080) !== 0;
}
