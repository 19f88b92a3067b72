import { describe, expect, it } from 'vitest';
import { bookmarkLsn, formatLsn, parseLsn } from '../../src/plugins/logical-replication/lsn.js';

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
});
