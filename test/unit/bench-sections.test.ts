import { describe, expect, it } from 'vitest';
import { parseSections, SECTIONS } from '../../bench/sections.js';

/** `--only` picks the bench's sections by name; a typo must fail with the names it takes, never run nothing. */
describe('bench --only', () => {
  it('takes a comma-separated list of known sections', () => {
    expect([...parseSections('hypertable, log-based,python-hypertable')]).toEqual(['hypertable', 'log-based', 'python-hypertable']);
  });

  it('an unknown or empty name fails and lists the known ones', () => {
    expect(() => parseSections('hypertable,hypertables')).toThrow(/--only hypertables: unknown section; use .*hypertable, keyed/);
    expect(() => parseSections(',')).toThrow(/--only \(empty\)/);
  });

  it('names every section the bench README documents', () => {
    expect(Object.keys(SECTIONS)).toEqual([
      'plain',
      'narrow',
      'python',
      'concurrency',
      'rss',
      'hypertable',
      'keyed',
      'python-hypertable',
      'log-based',
      'embedded',
    ]);
  });
});
