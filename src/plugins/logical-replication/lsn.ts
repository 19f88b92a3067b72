/**
 * WAL positions. PostgreSQL prints them as `X/Y` (two 32-bit hex halves); the tap keeps them as
 * integers in STATE and in `_sdc_lsn` (as singer-sdk's taps do), which sort and compare as numbers.
 * A JSON number holds them exactly up to 2^53 bytes of WAL (8 PiB).
 */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a WAL position (X/Y in hex)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The bookmark's `lsn` (a number, or a string in either form from a hand-written state), or undefined when absent. */
export function bookmarkLsn(value: unknown): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'string') return parseLsn(value);
  throw new Error(`lsn ${JSON.stringify(value)} is neither an integer nor X/Y`);
}
