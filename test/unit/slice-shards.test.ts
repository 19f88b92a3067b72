import { describe, expect, it } from 'vitest';
import type { Slice } from '../../src/plugins/timescaledb/partition-slices.js';
import { sliceShard } from '../../src/plugins/timescaledb/slice-shards.js';

const DAY = 86_400_000_000n;
const START = 1_704_067_200_000_000n; // 2024-01-01 in µs

function chunk(day: number, width = 1n): Slice {
  const lower = START + BigInt(day) * DAY;
  const upper = lower + width * DAY;
  return { key: `${lower}:${upper}`, lowerOrd: lower, upperOrd: upper, chunks: [`c${day}`], compressed: false, partial: false };
}

function partition(name: string): Slice {
  return { key: name, lowerOrd: null, upperOrd: null, from: name, chunks: [name], compressed: false, partial: false };
}

describe('sliceShard: which shard reads a chunk or a partition', () => {
  it('consecutive one-day chunks go round the shards, each shard as many', () => {
    const shards = Array.from({ length: 24 }, (_, d) => sliceShard(chunk(d), 4));
    for (let d = 1; d < 24; d++) expect(shards[d]).toBe((shards[d - 1]! + 1) % 4);
    expect([0, 1, 2, 3].map((s) => shards.filter((x) => x === s).length)).toEqual([6, 6, 6, 6]);
  });

  it('is a function of the slice alone: a chunk created in the past, or one dropped, moves no other', () => {
    const before = new Map(Array.from({ length: 10 }, (_, d) => [d, sliceShard(chunk(d), 3)]));
    const backfill = chunk(-5);
    const list = [backfill, ...Array.from({ length: 9 }, (_, d) => chunk(d + 1))];
    for (const s of list.slice(1)) expect(sliceShard(s, 3)).toBe(before.get(Number((s.lowerOrd! - START) / DAY)));
    expect(sliceShard(backfill, 3)).toBeGreaterThanOrEqual(0);
  });

  it('space partitions of one time range are spread, and negative bounds stay in range', () => {
    const time = `${START}:${START + DAY}`;
    const space = ['-9223372036854775808:1073741823', '1073741823:9223372036854775807'];
    const shards = space.map((d) => sliceShard({ ...chunk(0), key: `${time}|${d}` }, 2));
    expect(new Set(shards).size).toBe(2);
    expect(sliceShard(chunk(-20_000), 7)).toBeGreaterThanOrEqual(0);
  });

  it('partitions without ranges: a hash of the name, the same every time, every shard in range', () => {
    const names = Array.from({ length: 40 }, (_, i) => `public.region_${i}`);
    const first = names.map((n) => sliceShard(partition(n), 4));
    expect(names.map((n) => sliceShard(partition(n), 4))).toEqual(first);
    expect(new Set(first)).toEqual(new Set([0, 1, 2, 3]));
  });
});
