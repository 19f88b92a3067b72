import { describe, expect, it } from 'vitest';
import { coveredMs } from '../../src/plugins/compression/compression-plugin.js';

describe("the compression report's time: chunks read at once count once", () => {
  it('is the union of the read spans, not their sum', () => {
    expect(coveredMs([])).toBe(0);
    expect(coveredMs([[0, 10]])).toBe(10);
    expect(
      coveredMs([
        [0, 10],
        [0, 10],
        [0, 10],
      ]),
    ).toBe(10); // three chunks read at once
    expect(
      coveredMs([
        [0, 10],
        [5, 15],
      ]),
    ).toBe(15);
    expect(
      coveredMs([
        [20, 30],
        [0, 10],
      ]),
    ).toBe(20); // a gap, given out of order
    expect(
      coveredMs([
        [0, 100],
        [10, 20],
        [30, 40],
      ]),
    ).toBe(100); // nested
    expect(
      coveredMs([
        [0, 10],
        [10, 20],
      ]),
    ).toBe(20); // touching
  });
});
