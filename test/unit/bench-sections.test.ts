import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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

  it('names every section the bench README documents, in its order', () => {
    const readme = readFileSync(resolve(__dirname, '../../bench/README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([a-z-]+)`: /gm)].map((m) => m[1]);
    expect(Object.keys(SECTIONS)).toEqual([...new Set(documented)]);
  });
});
