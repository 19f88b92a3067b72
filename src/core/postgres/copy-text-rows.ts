import { decodeFields, joinSplitRow } from './copy-text-bytes.js';
import type { EncodeOptions, RecordBatch } from './record-encoder.js';
import { jsonValueText } from './value-json.js';
import { BATCH_BYTES, releaseBatchBuffer, takeBatchBuffer } from '../singer/output-buffers.js';

const NL = 10;

/**
 * The rows of one `COPY … TO STDOUT` (text format) as they came, cut into batches of whole rows
 * (RowForm `copy-text`), for an output that reads each value from COPY text itself: a Parquet file,
 * which would otherwise parse again the JSON the transcoder wrote (issue #35: that JSON cost the reading
 * thread ~0.8 CPU-s and the Parquet thread ~0.8 CPU-s per 1M rows of the bench's hypertable). Nothing is
 * decoded here but a bookmark: the tracked values of the batch's last row whose tracked values are not
 * null in JSON, as the transcoder reports them (`RecordBatch.last`).
 */
export async function* copyTextRows(copyOut: AsyncIterable<Buffer>, options: EncodeOptions): AsyncGenerator<RecordBatch> {
  let out = takeBatchBuffer();
  let pos = 0;
  let rows = 0;
  let last: string[] | undefined;
  /** a row split across chunks, its pieces so far */
  const pending: Buffer[] = [];
  const take = (): RecordBatch => {
    last = lastTracked(out, pos, options) ?? last;
    const batch: RecordBatch = { bytes: out.subarray(0, pos), rows, last, form: 'copy-text' };
    out = takeBatchBuffer();
    pos = 0;
    rows = 0;
    return batch;
  };
  /** room for `n` more bytes: a batch that has rows is taken first; an empty one grows to fit a long row */
  const room = (n: number): RecordBatch | undefined => {
    if (pos + n <= out.length) return undefined;
    if (rows > 0) return take();
    out = Buffer.allocUnsafe(Math.max(BATCH_BYTES, n));
    return undefined;
  };
  try {
    for await (const data of copyOut) {
      let at = 0;
      if (pending.length > 0) {
        const split = joinSplitRow(pending, data);
        if (!split) continue;
        const full = room(split.row.length);
        if (full) yield full;
        pos += split.row.copy(out, pos);
        rows++;
        at = split.next;
        if (rows >= options.maxRows) yield take();
      }
      // whole rows from `at`, copied a run at a time: a run ends where the batch is full or has maxRows rows
      let run = at;
      for (let nl = data.indexOf(NL, at); nl >= 0; nl = data.indexOf(NL, at)) {
        if (pos + (nl + 1 - run) > out.length) {
          if (at > run) pos += data.copy(out, pos, run, at);
          run = at;
          const full = room(nl + 1 - run);
          if (full) yield full;
        }
        at = nl + 1;
        rows++;
        if (rows >= options.maxRows) {
          pos += data.copy(out, pos, run, at);
          run = at;
          yield take();
        }
      }
      if (at > run) pos += data.copy(out, pos, run, at);
      if (at < data.length) pending.push(Buffer.from(data.subarray(at)));
    }
    if (pending.some((p) => p.length > 0)) throw new Error('COPY output ended in the middle of a row');
    if (rows > 0) yield take();
  } finally {
    pending.length = 0;
    // the buffer taken after the last batch (or holding a batch never yielded): back for the next COPY
    releaseBatchBuffer(out);
  }
}

/** the kinds of the columns CopyRunner may send in binary for a Parquet file */
const SENT_KINDS: ReadonlySet<string> = new Set(['number', 'timestamptz', 'timestamp']);

/**
 * The JSON texts of the tracked columns of the last row in `bytes[0..end)` whose tracked values are all
 * not null in JSON (NULL, infinity, NaN, BC: see RecordBatch.last); undefined when none is.
 */
function lastTracked(bytes: Buffer, end: number, options: EncodeOptions): string[] | undefined {
  const { track, columns } = options;
  if (track.length === 0) return undefined;
  for (let rowEnd = end - 1; rowEnd > 0;) {
    const start = bytes.lastIndexOf(NL, rowEnd - 1) + 1;
    const fields = decodeFields(bytes, start, rowEnd);
    // CopyRunner never sends a bookmark column in binary (float8send, timestamptz_send); were it to, the bookmark would be wrong
    for (const i of track)
      if (SENT_KINDS.has(columns[i]!.kind) && fields[i]?.startsWith('\\x'))
        throw new Error(`bookmark column ${columns[i]!.name} was read in binary, not as its value's text`);
    const texts = track.map((i) => (fields[i] === null || fields[i] === undefined ? 'null' : jsonValueText(columns[i]!.kind, fields[i]!)));
    if (texts.every((t) => t[0] !== 'n')) return texts;
    rowEnd = start - 1;
  }
  return undefined;
}
