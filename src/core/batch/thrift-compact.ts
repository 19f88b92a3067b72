/**
 * Thrift's compact protocol, generically: a struct is read into its fields (id, wire type, value) and
 * written back byte for byte equal, so a Parquet footer or page header can have a few fields changed
 * without a schema of every other one (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
 * Only what Parquet's metadata uses: no maps of structs are ever changed, but every type is carried.
 */

export const T = {
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

export type ThriftValue = boolean | number | bigint | Buffer | ThriftStruct | ThriftList | ThriftMap;
export interface ThriftField {
  readonly id: number;
  type: number;
  value: ThriftValue;
}
export type ThriftStruct = ThriftField[];
export interface ThriftList {
  readonly elem: number;
  readonly items: ThriftValue[];
}
export interface ThriftMap {
  readonly key: number;
  readonly val: number;
  readonly entries: [ThriftValue, ThriftValue][];
}

/** Reads compact-protocol values from a buffer, from `pos` on. */
export class CompactReader {
  constructor(
    private readonly b: Buffer,
    public pos = 0,
  ) {}

  struct(): ThriftStruct {
    const fields: ThriftStruct = [];
    let last = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return fields;
      const type = h & 15;
      const delta = h >> 4;
      const id = delta === 0 ? this.zigzag32() : last + delta;
      last = id;
      fields.push({ id, type, value: type === T.TRUE || type === T.FALSE ? type === T.TRUE : this.value(type) });
    }
  }

  private value(type: number): ThriftValue {
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        return this.byte() === 1;
      case T.BYTE:
        return this.byte();
      case T.I16:
      case T.I32:
        return this.zigzag32();
      case T.I64:
        return this.zigzag64();
      case T.DOUBLE: {
        const v = this.b.readDoubleLE(this.pos);
        this.pos += 8;
        return v;
      }
      case T.BINARY: {
        const n = Number(this.varint());
        const v = this.b.subarray(this.pos, this.pos + n);
        this.pos += n;
        return v;
      }
      case T.LIST:
      case T.SET: {
        const h = this.byte();
        const n = h >> 4 === 15 ? Number(this.varint()) : h >> 4;
        const elem = h & 15;
        const items: ThriftValue[] = [];
        for (let i = 0; i < n; i++) items.push(this.value(elem));
        return { elem, items };
      }
      case T.MAP: {
        const n = Number(this.varint());
        if (n === 0) return { key: 0, val: 0, entries: [] };
        const kv = this.byte();
        const entries: [ThriftValue, ThriftValue][] = [];
        for (let i = 0; i < n; i++) entries.push([this.value(kv >> 4), this.value(kv & 15)]);
        return { key: kv >> 4, val: kv & 15, entries };
      }
      case T.STRUCT:
        return this.struct();
      default:
        throw new Error(`not Thrift compact protocol: wire type ${type} at byte ${this.pos}`);
    }
  }

  private byte(): number {
    if (this.pos >= this.b.length) throw new Error('Thrift compact protocol: the data ends inside a value');
    return this.b[this.pos++]!;
  }

  private varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const c = this.byte();
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return v;
      shift += 7n;
    }
  }

  private zigzag32(): number {
    const v = Number(this.varint());
    return (v >>> 1) ^ -(v & 1);
  }

  private zigzag64(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }
}

/** Writes compact-protocol values; `bytes()` is what was written. */
export class CompactWriter {
  private out: number[] = [];
  private readonly chunks: Buffer[] = [];

  bytes(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }

  struct(fields: ThriftStruct): void {
    let last = 0;
    for (const f of [...fields].sort((a, b) => a.id - b.id)) {
      const wire = f.type === T.TRUE || f.type === T.FALSE ? (f.value ? T.TRUE : T.FALSE) : f.type;
      const delta = f.id - last;
      if (delta > 0 && delta <= 15) this.out.push((delta << 4) | wire);
      else {
        this.out.push(wire);
        this.varint(zigzag(BigInt(f.id)));
      }
      last = f.id;
      if (wire !== T.TRUE && wire !== T.FALSE) this.value(f.type, f.value);
    }
    this.out.push(0);
  }

  private value(type: number, v: ThriftValue): void {
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        this.out.push(v ? 1 : 2);
        return;
      case T.BYTE:
        this.out.push((v as number) & 0xff);
        return;
      case T.I16:
      case T.I32:
        this.varint(zigzag(BigInt(v as number)));
        return;
      case T.I64:
        this.varint(zigzag(v as bigint));
        return;
      case T.DOUBLE: {
        const d = Buffer.alloc(8);
        d.writeDoubleLE(v as number);
        this.raw(d);
        return;
      }
      case T.BINARY:
        this.varint(BigInt((v as Buffer).length));
        this.raw(v as Buffer);
        return;
      case T.LIST:
      case T.SET: {
        const { elem, items } = v as ThriftList;
        if (items.length < 15) this.out.push((items.length << 4) | elem);
        else {
          this.out.push(0xf0 | elem);
          this.varint(BigInt(items.length));
        }
        for (const item of items) this.value(elem, item);
        return;
      }
      case T.MAP: {
        const m = v as ThriftMap;
        this.varint(BigInt(m.entries.length));
        if (m.entries.length === 0) return;
        this.out.push((m.key << 4) | m.val);
        for (const [k, val] of m.entries) {
          this.value(m.key, k);
          this.value(m.val, val);
        }
        return;
      }
      case T.STRUCT:
        this.struct(v as ThriftStruct);
        return;
      default:
        throw new Error(`cannot write Thrift wire type ${type}`);
    }
  }

  private raw(b: Buffer): void {
    this.flush();
    this.chunks.push(b);
  }

  private flush(): void {
    if (this.out.length === 0) return;
    this.chunks.push(Buffer.from(this.out));
    this.out = [];
  }

  private varint(v: bigint): void {
    while (v >= 0x80n) {
      this.out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.out.push(Number(v));
  }
}

function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : (-v << 1n) - 1n;
}

/** The field `id` of a struct, if present. */
export function field(s: ThriftStruct, id: number): ThriftField | undefined {
  return s.find((f) => f.id === id);
}

/** Sets (or adds) an integer field. */
export function setInt(s: ThriftStruct, id: number, type: typeof T.I32 | typeof T.I64, value: number | bigint): void {
  const v = type === T.I64 ? BigInt(value) : Number(value);
  const f = field(s, id);
  if (f) f.value = v;
  else s.push({ id, type, value: v });
}

/** Removes the fields `ids` from a struct. */
export function drop(s: ThriftStruct, ...ids: number[]): void {
  for (let i = s.length - 1; i >= 0; i--) if (ids.includes(s[i]!.id)) s.splice(i, 1);
}
