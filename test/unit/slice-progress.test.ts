import { describe, expect, it } from 'vitest';
import { compareKeyValues, SliceProgress } from '../../src/plugins/timescaledb/slice-progress.js';
import type { Slice } from '../../src/plugins/timescaledb/partition-slices.js';

const slice = (lower: number, upper: number, part: string): Slice => ({
  key: `${lower}:${upper}|${part}`,
  lowerOrd: BigInt(lower),
  upperOrd: BigInt(upper),
  chunks: [part],
  compressed: false,
  partial: false,
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

describe('compareKeyValues: the order a bookmark moves by', () => {
  it.each([
    [9.5, 10.5, -1],
    ['9.5', '10.5', -1],
    ['-3.25', '-10', 1],
    [1e-7, '0.0000001', 0],
    ['1.50', 1.5, 0],
    ['123456789012345678901234567890.1', '123456789012345678901234567890.09', 1],
    ['2024-01-02T00:00:00Z', '2024-01-10T00:00:00.5Z', -1],
    ['9007199254740993', '9007199254740992', 1],
    ['b', 'ab', 1],
  ])('%s vs %s -> %i', (a, b, expected) => {
    expect(Math.sign(compareKeyValues(a, b))).toBe(expected);
    expect(Math.sign(compareKeyValues(b, a))).toBe(-expected || 0);
  });
});
