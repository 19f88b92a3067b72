/** The public API: what a plugin (built-in or a user's) may use. */
export type {
  TapPlugin,
  PluginContext,
  DiscoveryContext,
  StreamStartEvent,
  StreamEndEvent,
  PartitionInfo,
  PartitionStartEvent,
  PartitionEndEvent,
  PartitionEvents,
  BatchEvent,
  SyncEndEvent,
} from './core/plugins/tap-plugin.js';
export type { TableReader, ReaderStrategy, ReadBatch, ReadContext } from './core/readers/table-reader.js';
export type { StreamPlan, PlannedColumn } from './core/readers/stream-plan.js';
export type { CopyRunner, SelectParts, CopyRunOptions } from './core/readers/copy-runner.js';
export type { RecordBatch, RecordEncoder, EncodeOptions } from './core/postgres/record-encoder.js';
export type { ColumnCodec, PgTypeInfo, ValueKind } from './core/postgres/type-mapping.js';
export type { Catalog, CatalogEntry, MetadataEntry } from './core/singer/catalog.js';
export type { StreamBookmark, TapState, SingerMessage } from './core/singer/messages.js';
export type { TapConfig, Shard } from './core/config/tap-config.js';
export type { JsonSchema } from './core/config/config-schema.js';
export type { Logger } from './core/logger.js';
export type { ConnectionPool } from './core/postgres/connection-pool.js';
export { translateQueryError, isRetriable, replicationClientConfig } from './core/postgres/connection-pool.js';
export { TOKENS } from './core/container.js';
export { SYNC_REPORT, type SyncReport, type ReportSection } from './plugins/metrics/sync-report.js';
export { streamMetadata, columnMetadata, setMetadata, isSelected, selectedColumns } from './core/singer/catalog.js';
export { quoteIdent, quoteLiteral, qualifiedName, typedLiteral } from './core/postgres/sql.js';
export { bookmarkValue, jsonValueText } from './core/postgres/value-json.js';
export { copyTableStrategy, CopyTableReader } from './core/readers/copy-table-reader.js';
export { TapError, ConfigurationError, CatalogError, StateError, FatalSyncError, RetriableSyncError, PluginError } from './core/errors.js';
export { StopSyncError, isStopSync } from './core/errors.js';
export { createTap } from './core/tap-factory.js';
export { computedColumn, shapePlan, shapedWhere, type QueryShape, type ComputedColumn } from './core/readers/query-shape.js';
export { withShape, withReadHook } from './core/readers/reader-wrappers.js';
export type { StrategyWrapper, StreamClaim } from './core/readers/reader-registry.js';
export type {
  RecordTransform,
  StreamRecord,
  RecordVerdict,
  RecordOperation,
  RecordPosition,
  RecordShape,
  RecordMeta,
} from './core/records/record-transform.js';
// for the logical-replication plugin: the initial copy picks another strategy, changes are encoded with the tap's codecs
export type { ReaderRegistry } from './core/readers/reader-registry.js';
export type { ConnectionSettings } from './core/config/tap-config.js';
export { codecFor } from './core/postgres/type-mapping.js';
export { markBroken } from './core/readers/copy-runner.js';
// for a reader that reads its parts in order on two connections (chunks, page ranges): the next part ahead
export { readAhead, type ReadAheadOptions } from './core/readers/read-ahead.js';
// PGlite takes one connection at a time: no read ahead, no parallel reads there
export { embeddedEngine } from './core/postgres/pg-catalog.js';
