/**
 * The bench's sections, by the names `--only` takes. A full run takes ~15 minutes on 2 cores; a section
 * alone lets whoever measures on an idle machine spend that time where it is needed.
 */
export const SECTIONS = {
  plain: 'native plain table (wide), with the node consumer and the metrics-plugin line',
  narrow: 'native narrow 3-column table',
  python: 'Python taps and target-jsonl on the plain subset table',
  batch: 'BATCH files (JSONL, JSONL gzip, Parquet gzip and none) beside the RECORD path on the native wide table and the native hypertable',
  concurrency: 'max_concurrent_chunks 1, 2, 4 on the natively partitioned table',
  rss: 'peak RSS against table size',
  hypertable: 'native TimescaleDB hypertable (50 chunks, 10 compressed) and the same rows in a plain table',
  keyed: 'native plain table with PRIMARY KEY (device_id, ts), and the same rows without statistics',
  'python-hypertable': 'Python taps on a hypertable subset',
  'log-based': 'LOG_BASED changes/s after an UPDATE of every row, beside FULL_TABLE',
  'log-based-decode':
    'LOG_BASED decode: 1M changes (1 and 1,000 transactions) beside the server alone and pg_recvlogical; 1, 5, 20 streams; first RECORD; temp and spill bytes',
  workers: 'transcode_workers 0, 1, 2 with max_concurrent_chunks 2 on the native hypertable, then with the server pinned to one CPU',
  shards: 'shard_count 1, 2, 4: the native hypertable read by that many tap processes at once, wall and CPU',
  embedded: 'embedded TimescaleDB (PGlite WASM): hypertable and incremental',
} as const;

export type Section = keyof typeof SECTIONS;

/** `--only a,b,c` as a set; an unknown name fails with the list of known ones. */
export function parseSections(list: string): Set<Section> {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(n in SECTIONS));
  if (unknown.length > 0 || names.length === 0)
    throw new Error(
      `--only ${unknown.join(',') || '(empty)'}: unknown section; use a comma-separated list of ${Object.keys(SECTIONS).join(', ')}`,
    );
  return new Set(names as Section[]);
}
