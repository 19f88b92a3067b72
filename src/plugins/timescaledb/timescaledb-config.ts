import type { JsonSchema } from '../../core/config/config-schema.js';
import { ConfigurationError } from '../../core/errors.js';

/** The TimescaleDB plugin's settings (top-level config keys; the seed's names are kept). */
export const timescaledbConfigSchema: Record<string, JsonSchema> = {
  timescaledb_support: {
    type: ['string', 'boolean'],
    enum: ['auto', 'true', 'false', true, false],
    default: 'auto',
    description:
      "TimescaleDB support: 'auto' when the extension is installed, true (an error without it), false (hypertables read by the default reader as plain tables; chunks stay out of the catalog).",
  },
  timescaledb_chunk_discovery_interval_minutes: {
    type: 'number',
    minimum: 0,
    description:
      'How long a hypertable’s chunk list is cached during a sync before it is looked up again (alias chunk_discovery_interval_minutes).',
    default: 5,
  },
  chunk_discovery_interval_minutes: { type: 'number', minimum: 0, description: 'Alias of timescaledb_chunk_discovery_interval_minutes.' },
  timescaledb_max_concurrent_chunks: {
    type: 'integer',
    minimum: 1,
    maximum: 10,
    default: 1,
    description: 'Chunks (or partitions) read at once, each on its own connection (alias max_concurrent_chunks).',
  },
  max_concurrent_chunks: { type: 'integer', minimum: 1, maximum: 10, description: 'Alias of timescaledb_max_concurrent_chunks.' },
  consistent_snapshot: {
    type: 'boolean',
    default: false,
    description:
      'Read every chunk of the sync in one snapshot (pg_export_snapshot + SET TRANSACTION SNAPSHOT): rows written during the sync are not seen, in any chunk. Needs one more connection; not on the embedded engine. Compression or decompression of a chunk during the sync is not MVCC-safe in TimescaleDB (timescaledb#6841, #6842).',
  },
  transcode_workers: {
    type: ['boolean', 'integer'],
    minimum: 0,
    maximum: 10,
    default: false,
    description:
      'With max_concurrent_chunks above 1, transcode COPY output to RECORD lines on worker threads instead of the main thread: true for as many as chunks read at once (at most the cores), a number for at most that many (0: off). For a client with cores to spare; each worker adds its own memory.',
  },
  late_arrival_lookback: {
    type: ['string', 'integer'],
    description:
      "INCREMENTAL on the time column of a hypertable or a partitioned table, or on a continuous aggregate's bucket (where it replaces the refresh policy's start_offset), re-reads this window before the bookmark for late inserts (an interval like '2 hours'; an integer for integer time).",
  },
};

export interface TimescaleSettings {
  readonly support: 'auto' | 'true' | 'false';
  readonly cacheMs: number;
  readonly maxConcurrent: number;
  readonly lookback?: string;
  readonly consistentSnapshot: boolean;
  readonly prefetch: boolean;
  /** transcode_workers: false or 0 (off), true (as many as chunks read at once, up to the cores), or at most N threads */
  readonly transcodeWorkers: boolean | number;
}

export function timescaleSettings(raw: Readonly<Record<string, unknown>>): TimescaleSettings {
  const support = String(raw.timescaledb_support ?? 'auto') as TimescaleSettings['support'];
  const minutes = (raw.chunk_discovery_interval_minutes ?? raw.timescaledb_chunk_discovery_interval_minutes ?? 5) as number;
  // an integer is the window of an integer time column, in its own units (JSON 150 or "150")
  const lookback = raw.late_arrival_lookback === undefined ? undefined : String(raw.late_arrival_lookback);
  if (lookback !== undefined && lookback.trim() === '')
    throw new ConfigurationError('late_arrival_lookback is empty: give an interval like "2 hours", or leave it out');
  return {
    support,
    cacheMs: minutes * 60_000,
    maxConcurrent: (raw.max_concurrent_chunks ?? raw.timescaledb_max_concurrent_chunks ?? 1) as number,
    lookback,
    consistentSnapshot: raw.consistent_snapshot === true,
    prefetch: raw.chunk_prefetch !== false,
    transcodeWorkers: typeof raw.transcode_workers === 'number' ? raw.transcode_workers : raw.transcode_workers === true,
  };
}

/**
 * Checks that a late_arrival_lookback that is not an integer is a PostgreSQL interval, asking the server
 * (its interval syntax is too rich to copy). Run before the first stream is written: checked only when a
 * chunk's threshold was computed, a bad value exited 2 after SCHEMA and STATE were out.
 */
export async function checkLookbackInterval(
  client: { query(text: string, values: unknown[]): Promise<unknown> },
  lookback: string | undefined,
): Promise<void> {
  if (lookback === undefined || /^-?\d+$/.test(lookback.trim())) return;
  try {
    await client.query('SELECT $1::interval', [lookback]);
  } catch (err) {
    if (!/^22/.test((err as { code?: string }).code ?? '')) throw err; // only a value the type rejects (SQLSTATE class 22)
    throw new ConfigurationError(
      `late_arrival_lookback "${lookback}" is not a PostgreSQL interval (${(err as Error).message}): give e.g. "2 hours" or "3 days", or an integer for integer time columns`,
    );
  }
}
