import { describe, expect, it } from 'vitest';
import { estimateEtaSeconds, type EtaInput } from '../../src/plugins/metrics/eta-estimate.js';

const base: EtaInput = { elapsedMs: 10_000, rows: 0, chunksDone: 0, chunksRead: 0, rowsInReadChunks: 0, chunksTotal: 10 };

describe('ETA from chunk statistics', () => {
  it('knows nothing without a total (a reader without partitions) or before any chunk ends', () => {
    expect(estimateEtaSeconds({ ...base, chunksTotal: undefined, rows: 500 })).toBeUndefined();
    expect(estimateEtaSeconds({ ...base, rows: 500 })).toBeUndefined();
  });

  it('is 0 once every chunk is done', () => {
    expect(estimateEtaSeconds({ ...base, chunksDone: 10, chunksRead: 10, rows: 1000, rowsInReadChunks: 1000 })).toBe(0);
  });

  it('projects the average rows per finished chunk onto the chunks left, at the rate so far', () => {
    // 4 chunks of 100 rows in 10 s (40 rows/s); 6 chunks of ~100 rows left: 600 rows, 15 s
    expect(estimateEtaSeconds({ ...base, chunksDone: 4, chunksRead: 4, rows: 400, rowsInReadChunks: 400 })).toBeCloseTo(15);
  });

  it('counts the rows of chunks in flight as done, so the estimate moves within a long chunk', () => {
    // as above, plus 50 rows of the 5th chunk read: 550 rows left at 45 rows/s
    const eta = estimateEtaSeconds({ ...base, chunksDone: 4, chunksRead: 4, rows: 450, rowsInReadChunks: 400 })!;
    expect(eta).toBeCloseTo(550 / 45);
    expect(eta).toBeLessThan(15);
  });

  it('never goes below 0 when the chunk in flight is bigger than the average', () => {
    expect(estimateEtaSeconds({ ...base, chunksDone: 9, chunksRead: 9, rows: 5000, rowsInReadChunks: 900 })).toBe(0);
  });

  it('falls back to time per chunk when the finished chunks held no rows (empty or skipped)', () => {
    expect(estimateEtaSeconds({ ...base, chunksDone: 5, chunksRead: 0, rows: 0 })).toBeCloseTo(10);
    expect(estimateEtaSeconds({ ...base, chunksDone: 2, chunksRead: 2, rows: 0, rowsInReadChunks: 0 })).toBeCloseTo(40);
  });

  it('after a second reading round the total grows and so does the estimate', () => {
    const first = estimateEtaSeconds({ ...base, chunksDone: 5, chunksRead: 5, rows: 500, rowsInReadChunks: 500, chunksTotal: 6 })!;
    const more = estimateEtaSeconds({ ...base, chunksDone: 5, chunksRead: 5, rows: 500, rowsInReadChunks: 500, chunksTotal: 8 })!;
    expect(more).toBeGreaterThan(first);
  });
});
