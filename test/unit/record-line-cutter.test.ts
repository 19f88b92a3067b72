import { describe, expect, it } from 'vitest';
import { RecordLineCutter } from '../../src/core/batch/record-lines.js';
import { recordPrefix, recordSuffix } from '../../src/core/postgres/record-encoder.js';

const line = (stream: string, record: string, version?: number) =>
  recordPrefix(stream) + record.slice(1, -1) + recordSuffix({ version, timeExtracted: '2024-01-01T00:00:00.000Z' });

describe('RecordLineCutter', () => {
  // values that look like the line's own framing: the cut must take the last `,"time_extracted":`, not the first
  const records = [
    '{"a":1,"b":"x"}',
    '{"s":"},\\"time_extracted\\":\\"x\\"}","n":null}',
    '{"j":{"time_extracted":"2024","version":3},"e":{}}',
    '{}',
  ];
  it.each([undefined, 1733000000000])('cuts the record objects out byte for byte (version %s)', (version) => {
    for (const stream of ['public-t', 'we"ird\\stream']) {
      const bytes = Buffer.from(records.map((r) => line(stream, r, version)).join(''));
      expect(new RecordLineCutter(stream).cut(bytes).toString()).toBe(records.map((r) => r + '\n').join(''));
    }
  });

  it("one cutter takes batches with a version and batches without (a LOG_BASED stream's copy, then its changes)", () => {
    const cutter = new RecordLineCutter('public-t');
    for (const version of [1733000000000, undefined, 7, undefined]) {
      const bytes = Buffer.from(records.map((r) => line('public-t', r, version)).join(''));
      expect(cutter.cut(bytes).toString()).toBe(records.map((r) => r + '\n').join(''));
    }
  });

  it('cuts in place: the records are the start of the lines’ own buffer, which the file takes without a copy', () => {
    const bytes = Buffer.from(records.map((r) => line('public-t', r, 7)).join(''));
    const cut = new RecordLineCutter('public-t').cut(bytes);
    expect(cut.buffer).toBe(bytes.buffer);
    expect(cut.byteOffset).toBe(bytes.byteOffset);
    expect(bytes.subarray(0, cut.length).toString()).toBe(records.map((r) => r + '\n').join(''));
  });

  it('refuses lines of another stream or without a newline', () => {
    expect(() => new RecordLineCutter('a').cut(Buffer.from(line('b', '{"x":1}')))).toThrow(/not a RECORD line of this stream/);
    expect(() => new RecordLineCutter('a').cut(Buffer.from(line('a', '{"x":1}').trimEnd()))).toThrow(/middle of a line/);
  });
});
