import type { StreamBookmark } from '../../core/singer/messages.js';
import { cmpOrd, type Slice } from './partition-slices.js';

/**
 * How far a stream's slices are done, kept in the stream's bookmark under `chunks`:
 * - `done_before`: every slice whose range ends at or before this ord is done (the contiguous prefix)
 * - `done`: keys of slices done beyond that prefix (parallel reads, partitions without ranges)
 * - `filter_value` / `max_value`: for an incremental run that cannot move its bookmark row by row
 *   (key is not the time column, or chunks are read in parallel): the value this run filters with
 *   and the largest value emitted so far; the bookmark takes max_value when the run completes.
 */
export interface ChunkProgress {
  done_before?: string;
  done?: string[];
  filter_value?: unknown;
  max_value?: unknown;
}

export class SliceProgress {
  private doneBefore: bigint | null;
  private readonly done: Set<string>;

  constructor(private readonly state: ChunkProgress = {}) {
    this.doneBefore = state.done_before !== undefined ? BigInt(state.done_before) : null;
    this.done = new Set(state.done ?? []);
  }

  isDone(slice: Slice): boolean {
    if (this.done.has(slice.key)) return true;
    return this.doneBefore !== null && slice.upperOrd !== null && slice.upperOrd <= this.doneBefore;
  }

  /**
   * Marks a slice done and moves done_before to the largest range end U such that every slice of
   * `all` ending at or before U is done. Slices can share an end (the space partitions of one time
   * range): U only passes an end once all of them are done.
   */
  complete(slice: Slice, all: readonly Slice[]): void {
    this.done.add(slice.key);
    const byEnd = all.filter((s) => s.upperOrd !== null).sort((a, b) => cmpOrd(a.upperOrd, b.upperOrd));
    const firstOpen = byEnd.findIndex((s) => !this.isDone(s));
    const finished = firstOpen === -1 ? byEnd : byEnd.slice(0, firstOpen).filter((s) => s.upperOrd! < byEnd[firstOpen]!.upperOrd!);
    const end = finished.at(-1)?.upperOrd;
    if (end !== undefined && end !== null && (this.doneBefore === null || end > this.doneBefore)) this.doneBefore = end;
    for (const key of [...this.done]) {
      const s = all.find((x) => x.key === key);
      if (s && s.upperOrd !== null && this.doneBefore !== null && s.upperOrd <= this.doneBefore) this.done.delete(key);
    }
  }

  toJSON(extra: Pick<ChunkProgress, 'filter_value' | 'max_value'> = {}): ChunkProgress {
    const out: ChunkProgress = { ...extra };
    if (this.doneBefore !== null) out.done_before = this.doneBefore.toString();
    if (this.done.size > 0) out.done = [...this.done];
    return out;
  }
}

export function sortSlices(slices: Slice[]): Slice[] {
  return slices.sort((a, b) => cmpOrd(a.lowerOrd, b.lowerOrd) || a.key.localeCompare(b.key));
}

export function progressOf(bookmark: StreamBookmark): ChunkProgress {
  const p = bookmark.chunks;
  return typeof p === 'object' && p !== null ? (p as ChunkProgress) : {};
}

/** Orders replication key values: bigint-safe integers, decimals, RFC 3339 timestamps with microseconds, dates, strings. */
export function compareKeyValues(a: unknown, b: unknown): number {
  const ordA = valueOrd(a);
  const ordB = valueOrd(b);
  if (ordA !== null && ordB !== null) return ordA < ordB ? -1 : ordA > ordB ? 1 : 0;
  // numeric and float keys: as text, "10.5" < "9.5" kept the bookmark behind rows already emitted
  const decA = decimal(a);
  const decB = decimal(b);
  if (decA && decB) {
    const scale = Math.max(decA.scale, decB.scale);
    const x = decA.digits * 10n ** BigInt(scale - decA.scale);
    const y = decB.digits * 10n ** BigInt(scale - decB.scale);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** A JSON number or a decimal literal as `digits / 10^scale`, exactly; null for anything else. */
function decimal(value: unknown): { digits: bigint; scale: number } | null {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value : null;
  const m = text === null ? null : /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m || (m[2] === '' && !m[3])) return null;
  const fraction = m[3] ?? '';
  const exponent = Number(m[4] ?? '0');
  let digits = BigInt((m[1] === '-' ? '-' : '') + (m[2] || '0') + fraction);
  let scale = fraction.length - exponent;
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { digits, scale };
}

/** A bookmark value as an ord comparable with slice bounds: µs since the epoch for times and dates, the integer otherwise. */
export function valueOrd(value: unknown): bigint | null {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value !== 'string') return null;
  if (/^-?\d+$/.test(value)) return BigInt(value);
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6})\d*)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(value);
  if (!m) return null;
  const zone = !m[4] || m[4] === 'Z' ? 'Z' : m[4].length === 3 ? `${m[4]}:00` : m[4].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${zone}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1000n + BigInt((m[3] ?? '').padEnd(6, '0') || '0');
}
