import { readFileSync } from 'node:fs';
import { CompactReader, type ThriftList, type ThriftStruct } from '../../src/core/batch/thrift-compact.js';

/**
 * The first page of a Parquet file's first column chunk, from its footer (parquet.thrift: FileMetaData 4
 * row_groups, RowGroup 1 columns, ColumnChunk 3 meta_data, ColumnMetaData 9/11 data/dictionary page offsets;
 * PageHeader 2/3 uncompressed/compressed sizes): its sizes and body, as the file holds it.
 */
export function firstPage(path: string): { uncompressed: number; body: Buffer } {
  const file = readFileSync(path);
  const length = file.readUInt32LE(file.length - 8);
  const meta = new CompactReader(file.subarray(file.length - 8 - length, file.length - 8)).struct();
  const get = (s: ThriftStruct, id: number): unknown => s.find((f) => f.id === id)?.value;
  const group = (get(meta, 4) as ThriftList).items[0] as ThriftStruct;
  const chunk = (get(group, 1) as ThriftList).items[0] as ThriftStruct;
  const cm = get(chunk, 3) as ThriftStruct;
  const offsets = [get(cm, 9), get(cm, 11)].filter((v) => typeof v === 'bigint' && v > 0n).map(Number);
  const reader = new CompactReader(file, Math.min(...offsets));
  const header = reader.struct();
  const size = get(header, 3) as number;
  return { uncompressed: get(header, 2) as number, body: file.subarray(reader.pos, reader.pos + size) };
}
