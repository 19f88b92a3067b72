import { constants, createGzip, gzipSync, type ZlibOptions } from 'node:zlib';

/** What `zlib.gzipSync` itself calls on a zlib stream (Node's lib/zlib.js), not part of its documented API. */
interface ZlibInternals {
  _handle?: { writeSync?: (flush: number, i: Uint8Array, inOff: number, inLen: number, o: Buffer, outOff: number, outLen: number) => void };
  _writeState?: Uint32Array;
  reset(): void;
}
type Engine = ReturnType<typeof createGzip> & ZlibInternals;

/**
 * level 1: the files are a hand-over to a loader, and gzip's default level 6 costs 3x the CPU for ~10%
 * smaller files. memLevel 9 (zlib's largest hash table, 384 KiB of state instead of 256 KiB): 8% less CPU
 * than the default 8 for the same bytes (0.58 against 0.63 CPU-s for 1M records of the bench's hypertable,
 * 169 MB). Output in one buffer per member (a level-1 member of 1 MiB of JSONL is 0.1–0.3 MiB).
 */
export const GZIP_OPTIONS: ZlibOptions & { level: number } = { level: 1, memLevel: 9, chunkSize: 512 * 1024 };

/**
 * Whole gzip members from one deflate state per level, reset between members, into one output buffer:
 * `gzipSync` makes a zlib stream, its deflate state (384 KiB at memLevel 9) and its output buffers per call,
 * which a thread's GC frees only when their external memory reaches V8's limit. Reused, the same bytes cost
 * less memory and CPU: the JSONL gzip thread alone, compressing the 850 members of the bench's hypertable,
 * peaked at 18 against 35 MB; the Parquet pages of 1M rows of it took 0.204 against 0.225–0.238 CPU-s. A Node
 * whose zlib streams lack these internals gets `gzipSync`. A member the reused state cannot compress whole
 * throws, never falls back silently (a test would not see the reuse break).
 */
export class GzipEngine {
  private readonly engines = new Map<number, Engine>();
  private out: Buffer;
  private readonly reusable: boolean;

  constructor(
    private readonly options: ZlibOptions & { level: number } = GZIP_OPTIONS,
    outBytes = 1 << 20,
  ) {
    this.out = Buffer.allocUnsafeSlow(outBytes);
    const probe = this.engine(options.level);
    this.reusable = typeof probe._handle?.writeSync === 'function' && probe._writeState instanceof Uint32Array;
  }

  /** `input` as one gzip member at `level` (the options' by default): a view of a buffer the next call reuses. */
  compress(input: Uint8Array, level = this.options.level): Buffer {
    return this.compressParts([input], level);
  }

  /**
   * The parts, one after another, as one gzip member, without copying them into one buffer first (a Parquet
   * page: its length, levels and values): a view of a buffer the next call reuses. zlib may cut its blocks
   * otherwise than for the parts in one buffer (random cuts deep into 1 MB inputs did, 134 of 600); cuts
   * within the first 2 KB, as a page's length and levels are, gave the same bytes in all 700 tried.
   */
  compressParts(parts: readonly Uint8Array[], level = this.options.level): Buffer {
    if (!this.reusable) return gzipSync(parts.length === 1 ? parts[0]! : Buffer.concat(parts), { ...this.options, level });
    let size = 0;
    for (const p of parts) size += p.length;
    // deflate's bound: 5 bytes per 16 KiB stored block, plus the header and trailer
    const bound = size + (size >> 10) + 1024;
    if (this.out.length < bound) this.out = Buffer.allocUnsafeSlow(bound);
    const out = this.out;
    const engine = this.engine(level);
    let used = 0;
    for (let i = 0; i < parts.length; i++) {
      const input = parts[i]!;
      const last = i === parts.length - 1;
      if (!last && input.length === 0) continue;
      engine._handle!.writeSync!(last ? constants.Z_FINISH : constants.Z_NO_FLUSH, input, 0, input.length, out, used, out.length - used);
      const [outLeft, inLeft] = engine._writeState!;
      if (!engine._handle) throw new Error('zlib failed to compress a member (its stream closed)');
      if (inLeft !== 0 || outLeft === 0) {
        engine.close();
        throw new Error(`zlib left ${inLeft} of a member's ${size} bytes uncompressed`);
      }
      used = out.length - outLeft!;
    }
    engine.reset();
    return out.subarray(0, used);
  }

  /** the level's stream; a new one after a failure closed it */
  private engine(level: number): Engine {
    let e = this.engines.get(level);
    if (!e?._handle) {
      e = createGzip({ ...this.options, level }) as Engine;
      // a zlib error closes the stream (compress() then fails the member) and is emitted on the next tick
      e.on('error', () => undefined);
      this.engines.set(level, e);
    }
    return e;
  }
}
