import { describe, expect, it } from 'vitest';
import { SliceProgress } from '../../src/plugins/timescaledb/slice-progress.js';
import type { Slice } from '../../src/plugins/timescaledb/partition-slices.js';

const slice = (lower: number, upper: number, part: string): Slice => ({
  key: `${lower}:${upper}|${part}`, lowerOrd: BigInt(lower), upperOrd: BigInt(upper), chunks: [part], compressed: false, partial: false,
});

describe('SliceProgress: done_before over slices that share a range (space partitions)', () => {
  const all = [slice(0, 10, 'a'), slice(0, 10, 'b'), slice(10, 20, 'a'), slice(10, 20, 'b')];

  it('does not pass a range end while one slice ending there is unfinished', () => {
    const p = new SliceProgress();
    p.complete(all[0]!, all);
    expect(p.toJSON()).toEqual({ done: ['0:10|a'] });
    expect(p.isDone(all[1]!)).toBe(false);
    p.complete(all[1]!, all);
    expect(p.toJSON()).toEqual({ done_before: '10' });
    p.complete(all[3]!, all);
    expect(p.toJSON()).toEqual({ done_before: '10', done: ['10:20|b'] });
    expect(p.isDone(all[2]!)).toBe(false);
    p.complete(all[2]!, all);
    expect(p.toJSON()).toEqual({ done_before: '20' });
  });

  it('resumes from its JSON with the same answers', () => {
    const p = new SliceProgress({ done_before: '10', done: ['10:20|b'] });
    expect(all.map((s) => p.isDone(s))).toEqual([true, true, false, true]);
  });
});
