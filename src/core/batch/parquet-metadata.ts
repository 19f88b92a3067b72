import { CompactWriter, T, type ThriftStruct, type ThriftValue } from './thrift-compact.js';
import { decimalWidth, type ColumnStats } from './parquet-column-buffers.js';
import type { ParquetColumn } from './parquet-columns.js';

// parquet.thrift: https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift
const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
const CONVERTED = { UTF8: 0, DECIMAL: 5, DATE: 6, TIMESTAMP_MICROS: 10, INT_64: 18, JSON: 19 } as const;
const OPTIONAL = 1;
export const ENCODING = { PLAIN: 0, RLE: 3 } as const;
export const CODEC = { UNCOMPRESSED: 0, GZIP: 2 } as const;

const i32 = (id: number, value: number) => ({ id, type: T.I32, value });
const i64 = (id: number, value: number) => ({ id, type: T.I64, value: BigInt(value) });
const bin = (id: number, value: Buffer | string) => ({ id, type: T.BINARY, value: Buffer.isBuffer(value) ? value : Buffer.from(value) });
const struct = (id: number, value: ThriftStruct) => ({ id, type: T.STRUCT, value });
const list = (id: number, elem: number, items: ThriftValue[]) => ({ id, type: T.LIST, value: { elem, items } });

/** A column's physical type and its SchemaElement fields beyond the name. */
export function physicalType(c: ParquetColumn): number {
  switch (c.kind) {
    case 'int64':
    case 'timestamp':
      return TYPE.INT64;
    case 'date':
      return TYPE.INT32;
    case 'double':
      return TYPE.DOUBLE;
    case 'boolean':
      return TYPE.BOOLEAN;
    case 'decimal':
      return c.precision! <= 9 ? TYPE.INT32 : c.precision! <= 18 ? TYPE.INT64 : TYPE.FIXED_LEN_BYTE_ARRAY;
    case 'string':
    case 'json':
      return TYPE.BYTE_ARRAY;
  }
}

function schemaElement(c: ParquetColumn): ThriftStruct {
  const type = physicalType(c);
  const fields: ThriftStruct = [i32(1, type), i32(3, OPTIONAL), bin(4, c.name)];
  // both the ConvertedType older readers know and the LogicalType newer ones read
  const annotate = (converted: number, logical: ThriftStruct) => fields.push(i32(6, converted), struct(10, logical));
  switch (c.kind) {
    case 'int64':
      annotate(CONVERTED.INT_64, [
        struct(10, [
          { id: 1, type: T.BYTE, value: 64 },
          { id: 2, type: T.TRUE, value: true },
        ]),
      ]);
      break;
    case 'timestamp':
      // TimestampType { isAdjustedToUTC: true, unit: MICROS }
      annotate(CONVERTED.TIMESTAMP_MICROS, [struct(8, [{ id: 1, type: T.TRUE, value: true }, struct(2, [struct(2, [])])])]);
      break;
    case 'date':
      annotate(CONVERTED.DATE, [struct(6, [])]);
      break;
    case 'decimal':
      if (type === TYPE.FIXED_LEN_BYTE_ARRAY) fields.push(i32(2, decimalWidth(c.precision!)));
      fields.push(i32(7, c.scale!), i32(8, c.precision!));
      annotate(CONVERTED.DECIMAL, [struct(5, [i32(1, c.scale!), i32(2, c.precision!)])]);
      break;
    case 'string':
      annotate(CONVERTED.UTF8, [struct(1, [])]);
      break;
    case 'json':
      annotate(CONVERTED.JSON, [struct(12, [])]);
      break;
    default:
      break;
  }
  return fields;
}

/** A data page's header (v1: definition levels, then the PLAIN values, in one body). */
export function dataPageHeader(rows: number, uncompressed: number, compressed: number, nulls: number, stats?: ColumnStats): Buffer {
  const page: ThriftStruct = [i32(1, rows), i32(2, ENCODING.PLAIN), i32(3, ENCODING.RLE), i32(4, ENCODING.RLE)];
  page.push(struct(5, statistics(nulls, stats)));
  const w = new CompactWriter();
  w.struct([i32(1, 0), i32(2, uncompressed), i32(3, compressed), struct(5, page)]);
  return w.bytes();
}

function statistics(nulls: number, stats?: ColumnStats): ThriftStruct {
  const s: ThriftStruct = [i64(3, nulls)];
  if (stats) s.push(bin(5, stats.max), bin(6, stats.min));
  return s;
}

/** What the footer says of one column chunk. */
export interface ChunkMeta {
  readonly column: ParquetColumn;
  readonly offset: number;
  readonly rows: number;
  readonly nulls: number;
  readonly uncompressed: number;
  readonly compressed: number;
  readonly stats?: ColumnStats;
}

export interface RowGroupMeta {
  readonly rows: number;
  readonly chunks: readonly ChunkMeta[];
}

/** The file's footer (FileMetaData), without its length and magic. */
export function fileMetadata(columns: readonly ParquetColumn[], groups: readonly RowGroupMeta[], codec: number, createdBy: string): Buffer {
  const root: ThriftStruct = [bin(4, 'schema'), i32(5, columns.length)];
  const rowGroups = groups.map((g, ordinal): ThriftStruct => {
    const chunks = g.chunks.map((c): ThriftStruct => {
      const meta: ThriftStruct = [
        i32(1, physicalType(c.column)),
        list(2, T.I32, [ENCODING.PLAIN, ENCODING.RLE]),
        list(3, T.BINARY, [Buffer.from(c.column.name)]),
        i32(4, codec),
        i64(5, c.rows),
        i64(6, c.uncompressed),
        i64(7, c.compressed),
        i64(9, c.offset),
        struct(12, statistics(c.nulls, c.stats)),
      ];
      return [i64(2, c.offset), struct(3, meta)];
    });
    const uncompressed = g.chunks.reduce((n, c) => n + c.uncompressed, 0);
    const compressed = g.chunks.reduce((n, c) => n + c.compressed, 0);
    const first = g.chunks[0]?.offset ?? 4;
    return [
      list(1, T.STRUCT, chunks),
      i64(2, uncompressed),
      i64(3, g.rows),
      i64(5, first),
      i64(6, compressed),
      { id: 7, type: T.I16, value: ordinal },
    ];
  });
  const w = new CompactWriter();
  w.struct([
    i32(1, 1),
    list(2, T.STRUCT, [root, ...columns.map(schemaElement)]),
    i64(
      3,
      groups.reduce((n, g) => n + g.rows, 0),
    ),
    list(4, T.STRUCT, rowGroups),
    bin(6, createdBy),
    // TypeDefinedOrder for every column: without it readers ignore min_value/max_value (pyarrow did)
    list(
      7,
      T.STRUCT,
      columns.map((): ThriftStruct => [struct(1, [])]),
    ),
  ]);
  return w.bytes();
}
