/**
 * UUIDv7 time dimensions (TimescaleDB 2.22+): a hypertable partitioned `by_range` on a uuid column
 * puts each row in the chunk of the timestamp in its first 48 bits (Unix milliseconds, RFC 9562).
 * TimescaleDB reports such chunk ranges as microseconds in `range_start_integer`/`range_end_integer`
 * and constrains each chunk with `id >= '<ms>-0000-…'::uuid AND id < …`. PostgreSQL compares uuids
 * byte by byte, so `<ms>-7000-8000-…` is the smallest v7 uuid of its millisecond, and a range of them
 * selects exactly the rows of a chunk (https://docs.timescale.com/api/latest/hypertable/create_hypertable/).
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The smallest version-7 uuid whose embedded time is at or after `micros` (µs since the epoch), as TimescaleDB
 * writes chunk constraints. Chunk bounds are whole milliseconds for any interval of whole ms; a bound
 * inside a millisecond rounds down, and since neighbouring slices share it, every row is still read once.
 */
export function uuidV7LowerBound(micros: bigint): string {
  const ms = micros >= 0n ? micros / 1000n : 0n;
  const hex = ms.toString(16).padStart(12, '0').slice(-12);
  // version 7, variant 10, the rest zero: TimescaleDB refuses to compare a uuid column with a non-v7 constant
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/** The embedded time of a uuid, in µs since the epoch (whole milliseconds); null for a value that is no uuid. */
export function uuidV7Micros(value: unknown): bigint | null {
  if (typeof value !== 'string' || !UUID.test(value)) return null;
  return BigInt('0x' + value.slice(0, 8) + value.slice(9, 13)) * 1000n;
}
