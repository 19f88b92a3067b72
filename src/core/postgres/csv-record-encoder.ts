import { Readable } from 'node:stream';
import type { ValueKind } from './type-mapping.js';
import { jsonValueText } from './value-json.js';
import { recordPrefix, recordSuffix, type EncodeOptions, type RecordBatch, type RecordEncoder } from './record-encoder.js';

const BATCH_CHARS = 64 * 1024;

/**
 * The general decoder: `COPY … (FORMAT csv, FORCE_QUOTE *)` parsed by csv-parse. With FORCE_QUOTE every
 * non-NULL value is quoted, so an unquoted empty field is NULL and a quoted one is the empty string
 * (plain CSV parsing cannot tell them apart).
 */
export class CsvRecordEncoder implements RecordEncoder {
  readonly name = 'csv';
  readonly copyOptions = '(FORMAT csv, FORCE_QUOTE *)';

  handles(_kinds: readonly ValueKind[]): boolean {
    return true;
  }

  async *encode(copyOut: AsyncIterable<Buffer>, options: EncodeOptions): AsyncGenerator<RecordBatch> {
    const names = options.columns.map((c, i) => `${i === 0 ? '' : ','}${JSON.stringify(c.name)}:`);
    const kinds = options.columns.map((c) => c.kind);
    const prefix = recordPrefix(options.stream);
    const suffix = recordSuffix(options);
    // loaded on first use: the COPY-text transcoder serves every column kind the tap maps, so most runs never need it
    const { parse } = await import('csv-parse');
    const parser = parse({
      cast: (value, context) => (value === '' && !context.quoting ? null : value),
      relax_column_count: false,
    });
    const input = Readable.from(copyOut);
    input.on('error', (err) => parser.destroy(err));
    input.pipe(parser);
    let parts: string[] = [];
    let chars = 0;
    let rows = 0;
    let last: string[] | undefined;
    try {
      for await (const fields of parser as AsyncIterable<(string | null)[]>) {
        let line = prefix;
        const values: string[] = new Array(fields.length);
        for (let i = 0; i < fields.length; i++) {
          const f = fields[i];
          const v = f === null || f === undefined ? 'null' : jsonValueText(kinds[i]!, f);
          values[i] = v;
          line += names[i] + v;
        }
        line += suffix;
        parts.push(line);
        chars += line.length;
        rows++;
        if (options.track.every((i) => values[i] !== 'null')) last = options.track.map((i) => values[i]!);
        if (rows >= options.maxRows || chars >= BATCH_CHARS) {
          yield { bytes: Buffer.from(parts.join(''), 'utf8'), rows, last };
          parts = [];
          chars = 0;
          rows = 0;
        }
      }
      if (rows > 0) yield { bytes: Buffer.from(parts.join(''), 'utf8'), rows, last };
    } finally {
      input.unpipe(parser);
      input.destroy();
      parser.destroy();
    }
  }
}
