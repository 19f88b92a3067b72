import type { DependencyContainer } from 'tsyringe';
import type { JsonSchema } from '../config/config-schema.js';
import type { TapConfig } from '../config/tap-config.js';
import type { Logger } from '../logger.js';
import type { ConnectionPool } from '../postgres/connection-pool.js';
import type { RelationInfo } from '../postgres/pg-catalog.js';
import type { Catalog } from '../singer/catalog.js';
import type pg from 'pg';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { ReaderStrategy } from '../readers/table-reader.js';
import type { StrategyWrapper, StreamClaim } from '../readers/reader-registry.js';
import type { RecordTransform } from '../records/record-transform.js';

/**
 * A plugin: a module that registers services in the tap's child container and reacts to hooks.
 * The built-in TimescaleDB, compression and metrics plugins use exactly this API.
 *
 * A module exports one as its default export, as `plugin`, or as a factory `createPlugin(options)`.
 */
export interface TapPlugin {
  /** unique; used in errors, logs and `disable_plugins` */
  readonly name: string;
  /** top-level config keys this plugin reads, as JSON Schema properties; merged into `--about` and validated */
  readonly configSchema?: Record<string, JsonSchema>;
  /** what a user loses when this plugin is turned off with `disable_plugins` (logged as a warning) */
  readonly disabledNotice?: string;
  /**
   * JSON Schema of the `options` given with the plugin (`plugins: [{module, options}]`, `--plugin-options
   * MODULE=JSON`); the options are validated against it, with its defaults filled in, and `--about` shows it.
   * A factory module exports it as `optionsSchema` next to `createPlugin`, so the factory gets valid options.
   */
  readonly optionsSchema?: JsonSchema;
  /**
   * The exception policy of this plugin's hooks. By default an exception in a hook fails the sync with
   * exit 5 naming the plugin and the hook. `true`: exceptions are logged as warnings and the sync goes on
   * (for observers such as metrics). A StopSyncError stops the sync either way.
   */
  readonly bestEffort?: boolean;
  /**
   * Called once at start-up, in load order, before discovery or sync. Register reader strategies in
   * `ctx.readers`, services in `container`. Throwing here stops the tap with a PluginError naming the plugin.
   */
  register?(container: DependencyContainer, ctx: PluginContext): void | Promise<void>;
  /** Called after the core built the catalog: add metadata, hide relations that are not streams. */
  enrichCatalog?(catalog: Catalog, ctx: DiscoveryContext): Promise<void>;
  /** Called when a stream's sync starts, after SCHEMA. */
  onStreamStart?(event: StreamStartEvent): void | Promise<void>;
  /** Called when a stream's sync ends, successfully or not. */
  onStreamEnd?(event: StreamEndEvent): void | Promise<void>;
  /** Called by readers when a partition (a chunk, a table slice) starts; the reader waits for it. */
  onPartitionStart?(event: PartitionStartEvent): void | Promise<void>;
  /** Called by readers when a partition ends; the reader waits for it. */
  onPartitionEnd?(event: PartitionEndEvent): void | Promise<void>;
  /**
   * Called after each batch of records is handed to the stdout writer (a batch holds at most
   * `state_every_n_rows` records, usually one COPY buffer's worth). Synchronous and on the hot path:
   * update counters only, never do I/O or per-row work here. For periodic counters and progress.
   */
  onBatch?(event: BatchEvent): void;
  /** Called once after all streams, before the process exits; also after a failure. */
  onSyncEnd?(event: SyncEndEvent): void | Promise<void>;
}

/** What `register` gets: the validated config, the plugin's own options, a logger and the reader registry. */
export interface PluginContext {
  /** the whole validated config (a plugin's top-level keys are in `config.raw`) */
  readonly config: TapConfig;
  /** the plugin's own options (validated against optionsSchema) */
  readonly options: Record<string, unknown>;
  /** logs to stderr (never stdout); secrets in the config are redacted */
  readonly log: Logger;
  /**
   * Where reader strategies go. `register` adds a strategy that replaces the one that would read the
   * streams it claims (by precedence; a name registered twice fails the plugin, exit 5). `wrap` wraps
   * whichever strategy the registry chose for the streams `claims` accepts, keeping its slicing,
   * per-chunk state, concurrency and resume (see `withShape`, `withReadHook`); wrappers chain in load order.
   */
  readonly readers: {
    register(strategy: ReaderStrategy): void;
    wrap(claims: StreamClaim, wrapper: StrategyWrapper): void;
  };
  /**
   * Record-level transforms, for what a server-side shape cannot say: `transform(claims, t)` runs `t` on
   * every record of the streams `claims` accepts (decided once per stream, synchronously), on every output
   * path: RECORD lines, BATCH files, a LOG_BASED copy and its change records, with the operation and the
   * old row of a change. Transforms chain in load order. See docs/plugins.md#record-transforms.
   */
  readonly records: {
    transform(claims: (plan: StreamPlan) => boolean, transform: RecordTransform): void;
  };
}

/** What `enrichCatalog` gets, after the core built the catalog from pg_catalog. */
export interface DiscoveryContext {
  /** a leased connection with the tap's session settings; do not keep it past the hook */
  readonly client: pg.ClientBase;
  readonly config: TapConfig;
  readonly log: Logger;
  /** the relations the core found, by tap_stream_id */
  readonly relations: ReadonlyMap<string, RelationInfo>;
}

/** A stream's sync starts: its SCHEMA (and for a new FULL_TABLE version, ACTIVATE_VERSION) is written. */
export interface StreamStartEvent {
  /** aborted when the tap is asked to stop (SIGTERM/SIGINT); the sync then stops after the batch in hand */
  readonly signal?: AbortSignal;
  readonly plan: StreamPlan;
  /** the name of the reader strategy the registry chose */
  readonly reader: string;
  /** the tap's connections; lease with `use(fn)`, never hold one across hooks */
  readonly pool: ConnectionPool;
}

/** A stream's sync ended: after its last STATE when it succeeded, before the error is reported when not. */
export interface StreamEndEvent {
  readonly plan: StreamPlan;
  /** RECORDs written for the stream in this run */
  readonly rows: number;
  readonly durationMs: number;
  readonly status: 'succeeded' | 'failed';
  /** the failure, when status is failed */
  readonly error?: unknown;
  /** reads retried after a lost connection or a timeout */
  readonly retries: number;
}

/** A partition a reader reads on its own: a chunk of a hypertable, a partition of a table. */
export interface PartitionInfo {
  /** stable within a sync, e.g. `_hyper_1_3_chunk` or a range label */
  readonly id: string;
  readonly kind?: string;
  readonly compressed?: boolean;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  readonly estimatedRows?: number;
  readonly [key: string]: unknown;
}

/** A reader starts a partition (a chunk, a table partition); the reader waits for every plugin's hook. */
export interface PartitionStartEvent {
  readonly plan: StreamPlan;
  readonly partition: PartitionInfo;
  /** how many partitions the reader plans to read in this stream, when known */
  readonly total?: number;
}

/** A partition ended: read in full, failed (the stream retries or fails), or skipped (dropped, or by policy). */
export interface PartitionEndEvent extends PartitionStartEvent {
  /** RECORDs read from the partition */
  readonly rows: number;
  readonly durationMs: number;
  readonly status: 'succeeded' | 'failed' | 'skipped';
  /** why it failed or was skipped */
  readonly reason?: string;
}

/** One batch of RECORD lines written for a stream. */
export interface BatchEvent {
  readonly plan: StreamPlan;
  /** records in the batch */
  readonly rows: number;
  /** bytes of the RECORD lines (UTF-8), as written to stdout */
  readonly bytes: number;
}

/** The sync ended, successfully or not, after the last STATE; the process exits after the hooks. */
export interface SyncEndEvent {
  readonly status: 'succeeded' | 'failed';
  readonly error?: unknown;
  /** bytes of Singer messages written to stdout */
  readonly bytesWritten: number;
}

/** What readers call to report partitions; the core fans the calls out to every plugin. */
export interface PartitionEvents {
  start(event: Omit<PartitionStartEvent, 'plan'>): Promise<void>;
  end(event: Omit<PartitionEndEvent, 'plan'>): Promise<void>;
}
