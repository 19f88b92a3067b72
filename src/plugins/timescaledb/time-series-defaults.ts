import type { CatalogEntry } from '../../core/singer/catalog.js';
import { setMetadata, streamMetadata } from '../../core/singer/catalog.js';
import { bookmarkValue, jsonValueText } from '../../core/postgres/value-json.js';
import type { ContinuousAggregateInfo, HypertableInfo } from './timescale-catalog.js';

/**
 * Discovery's defaults for time series: a hypertable (or a continuous aggregate) is appended to by time,
 * so INCREMENTAL on its time (bucket) column is what a user wants, and a run twice should not re-read
 * history. They are plain catalog metadata at `[]`: a user's catalog edit, or Meltano's `metadata:`
 * (which overwrites keys at `[]`), replaces them. A time column that cannot be a bookmark gets no default.
 */
export function applyHypertableDefaults(entry: CatalogEntry, ht: HypertableInfo, validKeys: readonly string[]): void {
  if (!validKeys.includes(ht.timeColumn)) return;
  setMetadata(entry, [], { 'replication-method': 'INCREMENTAL', 'replication-key': ht.timeColumn });
}

/** The bookmark-form (JSON) value of a watermark's text, as a record of the bucket column would carry it. */
export function watermarkValue(text: string | null, bucketType: string): unknown {
  if (text === null) return null;
  const kind =
    bucketType === 'timestamp with time zone'
      ? 'timestamptz'
      : bucketType === 'timestamp without time zone'
        ? 'timestamp'
        : bucketType === 'date'
          ? 'date'
          : 'integer';
  return bookmarkValue(jsonValueText(kind, text));
}

/**
 * A continuous aggregate as a first-class stream: its key is the bucket plus the GROUP BY columns (one
 * row per bucket and group, so a target can upsert the buckets a refresh rewrites), INCREMENTAL on the
 * bucket by default, and `timescaledb.continuous_aggregate` saying what it aggregates and how it is refreshed.
 */
export function describeContinuousAggregate(entry: CatalogEntry, cagg: ContinuousAggregateInfo, watermark: string | null): void {
  const md = streamMetadata(entry);
  const valid = (md['valid-replication-keys'] as string[] | undefined) ?? [];
  const columns = Object.keys(entry.schema.properties);
  const key = [cagg.bucketColumn, ...cagg.groupBy].filter((c) => columns.includes(c));
  entry.key_properties = key;
  for (const column of key) setMetadata(entry, ['properties', column], { inclusion: 'automatic' });
  const defaults = valid.includes(cagg.bucketColumn) ? { 'replication-method': 'INCREMENTAL', 'replication-key': cagg.bucketColumn } : {};
  setMetadata(entry, [], {
    'table-key-properties': key,
    'valid-replication-keys': valid.includes(cagg.bucketColumn)
      ? [cagg.bucketColumn, ...valid.filter((k) => k !== cagg.bucketColumn)]
      : valid,
    ...defaults,
    'timescaledb.continuous_aggregate': {
      source: {
        schema: cagg.source.schema,
        name: cagg.source.name,
        kind: cagg.source.continuousAggregate ? 'continuous_aggregate' : 'hypertable',
      },
      bucket_column: cagg.bucketColumn,
      bucket_width: cagg.bucketWidth,
      group_by: cagg.groupBy,
      materialized_only: cagg.materializedOnly,
      refresh_policy: cagg.policy && {
        start_offset: cagg.policy.startOffset,
        end_offset: cagg.policy.endOffset,
        schedule_interval: cagg.policy.scheduleInterval,
      },
      watermark: watermarkValue(watermark, cagg.bucketType),
    },
  });
}
