import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { CompactReader, CompactWriter, drop, field, setInt, T, type ThriftList, type ThriftStruct } from './thrift-compact.js';

const gzip = promisify(gzipCallback);
const MAGIC = Buffer.from('PAR1');

// parquet.thrift: https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift
const CODEC_UNCOMPRESSED = 0;
const CODEC_GZIP = 2;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;

/**
 * Rewrites an uncompressed Parquet file with GZIP pages at zlib's level 1, on libuv's thread pool.
 * DuckDB's GZIP (miniz, its default level, not configurable) cost 2.1 of the 2.7 CPU-s per 1M rows its
 * whole Parquet encoding took (the bench's wide shape, one thread); zlib's level 1 compresses the same
 * pages in 0.5 CPU-s, ~5% bigger (measured by hand, see bench/README.md). Each column chunk's pages are
 * copied in order with their bodies gzipped and headers rewritten (sizes, no CRC); the footer gets the new
 * offsets, sizes and codec. Page indexes and bloom filters, which DuckDB may write and which hold offsets
 * into the old layout, are dropped (both optional: readers fall back to the pages). Only data pages v1
 * and dictionary pages, as DuckDB writes them, are taken: anything else throws, naming it.
 */
export async function gzipParquetPages(source: string, target: string, mode?: number): Promise<void> {
  const input = await open(source, 'r');
  try {
    const { size } = await input.stat();
    const tail = Buffer.alloc(8);
    await input.read(tail, 0, 8, size - 8);
    if (!tail.subarray(4).equals(MAGIC)) throw new Error(`${source} is not a Parquet file`);
    const footerLength = tail.readUInt32LE(0);
    const footer = Buffer.alloc(footerLength);
    await input.read(footer, 0, footerLength, size - 8 - footerLength);
    const meta = new CompactReader(footer).struct();
    const output = await open(target, 'wx', mode);
    try {
      let at = 0;
      // one read buffer for the file's column chunks: a new one per chunk left ~40 MB of garbage Buffers
      // for the GC on a 68 MB file (measured by hand)
      let buffer = Buffer.allocUnsafe(0);
      const write = async (b: Buffer): Promise<void> => {
        await output.write(b, 0, b.length, at);
        at += b.length;
      };
      await write(MAGIC);
      for (const rowGroup of list(meta, 4)) {
        const group = rowGroup as ThriftStruct;
        let groupStart = -1;
        let groupSize = 0;
        for (const chunkValue of list(group, 1)) {
          const chunk = chunkValue as ThriftStruct;
          const cm = field(chunk, 3)?.value as ThriftStruct | undefined;
          if (!cm) throw new Error('a Parquet column chunk without its metadata in the footer');
          if (int(cm, 4) !== CODEC_UNCOMPRESSED) throw new Error(`a Parquet column chunk with codec ${int(cm, 4)}, not UNCOMPRESSED`);
          const dictionary = field(cm, 11) ? int(cm, 11) : undefined;
          const data = int(cm, 9);
          const from = dictionary !== undefined && dictionary > 0 ? Math.min(dictionary, data) : data;
          // a column chunk (one row group's column: ~2 MB at 30,720 rows) is read whole, its pages gzipped side by side
          const size = int(cm, 7);
          if (buffer.length < size) buffer = Buffer.allocUnsafe(size);
          await input.read(buffer, 0, size, from);
          const pages = splitPages(buffer.subarray(0, size));
          const packed: Buffer[] = [];
          for (const p of pages) packed.push(await gzip(p.body, { level: 1 }));
          const start = at;
          let uncompressedTotal = 0;
          let newDictionary: number | undefined;
          let newData: number | undefined;
          const out: Buffer[] = [];
          pages.forEach(({ header, type }, i) => {
            setInt(header, 3, T.I32, packed[i]!.length);
            drop(header, 4); // the CRC was of the uncompressed body
            const w = new CompactWriter();
            w.struct(header);
            const newHeader = w.bytes();
            if (type === PAGE_DICTIONARY) newDictionary ??= at;
            else newData ??= at;
            uncompressedTotal += newHeader.length + int(header, 2);
            out.push(newHeader, packed[i]!);
            at += newHeader.length + packed[i]!.length;
          });
          await output.writev(out, start);
          setInt(cm, 4, T.I32, CODEC_GZIP);
          setInt(cm, 6, T.I64, uncompressedTotal);
          setInt(cm, 7, T.I64, at - start);
          setInt(cm, 9, T.I64, newData ?? start);
          if (newDictionary !== undefined) setInt(cm, 11, T.I64, newDictionary);
          else drop(cm, 11);
          drop(cm, 10, 14, 15); // index page, bloom filter: offsets into the old layout
          setInt(chunk, 2, T.I64, start);
          drop(chunk, 4, 5, 6, 7); // offset and column indexes: likewise
          if (groupStart < 0) groupStart = start;
          groupSize += at - start;
        }
        if (groupStart >= 0) {
          if (field(group, 5)) setInt(group, 5, T.I64, groupStart);
          if (field(group, 6)) setInt(group, 6, T.I64, groupSize);
        }
      }
      const w = new CompactWriter();
      w.struct(meta);
      const newFooter = w.bytes();
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(newFooter.length, 0);
      MAGIC.copy(trailer, 4);
      await write(Buffer.concat([newFooter, trailer]));
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

interface Page {
  readonly header: ThriftStruct;
  readonly type: number;
  readonly body: Buffer;
}

/** The pages of an uncompressed column chunk: header, then body, one after another. */
function splitPages(raw: Buffer): Page[] {
  const pages: Page[] = [];
  for (let pos = 0; pos < raw.length;) {
    const reader = new CompactReader(raw, pos);
    const header = reader.struct();
    const type = int(header, 1);
    if (type !== PAGE_DATA && type !== PAGE_DICTIONARY)
      throw new Error(`a Parquet page of type ${type} (only v1 data and dictionary pages are rewritten)`);
    const size = int(header, 3);
    if (size !== int(header, 2)) throw new Error('a Parquet page of an UNCOMPRESSED column chunk whose sizes differ');
    pages.push({ header, type, body: raw.subarray(reader.pos, reader.pos + size) });
    pos = reader.pos + size;
  }
  return pages;
}

function list(s: ThriftStruct, id: number): ThriftList['items'] {
  return (field(s, id)?.value as ThriftList | undefined)?.items ?? [];
}

function int(s: ThriftStruct, id: number): number {
  const v = field(s, id)?.value;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw new Error(`a Parquet metadata field ${id} is missing`);
}
