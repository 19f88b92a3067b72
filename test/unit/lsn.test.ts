import { describe, expect, it } from 'vitest';
import { bookmarkLsn, formatLsn, parseLsn } from '../../src/plugins/logical-replication/lsn.js';
import { recordsEnd } from '../../src/plugins/logical-replication/replication-service.js';

/** WAL positions as STATE and `_sdc_lsn` hold them (integers) and as PostgreSQL prints them (X/Y). */
describe('lsn', () => {
  it('reads X/Y as the 64-bit position and prints it back', () => {
    expect(parseLsn('0/1F53440')).toBe(0x1f53440n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
  });

  it('takes a bookmark as a number, a digit string or X/Y, and names what it cannot read', () => {
    expect(bookmarkLsn(32846912)).toBe(32846912n);
    expect(bookmarkLsn('32846912')).toBe(32846912n);
    expect(bookmarkLsn('0/1F53440')).toBe(0x1f53440n);
    expect(bookmarkLsn(undefined)).toBeUndefined();
    expect(() => bookmarkLsn('yesterday')).toThrow(/"yesterday" is not a WAL position/);
    expect(() => bookmarkLsn(-1)).toThrow(/neither an integer nor X\/Y/);
    expect(() => bookmarkLsn(1.5)).toThrow(/neither an integer nor X\/Y/);
  });

  it("a run's stop: the insert position, or the page's start when only the page header is past it", () => {
    expect(recordsEnd(parseLsn('0/2574018'), 8192n)).toBe(parseLsn('0/2574000')); // 24-byte page header
    expect(recordsEnd(parseLsn('0/3000028'), 8192n)).toBe(parseLsn('0/3000000')); // 40 at a segment's start
    expect(recordsEnd(parseLsn('0/2574030'), 8192n)).toBe(parseLsn('0/2574030')); // a record on the page
    expect(recordsEnd(parseLsn('0/2574000'), 8192n)).toBe(parseLsn('0/2574000'));
    expect(recordsEnd(parseLsn('0/2578018'), 16384n)).toBe(parseLsn('0/2578000')); // wal_block_size 16 kB
  });
});
