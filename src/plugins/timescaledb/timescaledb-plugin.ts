import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/container.js';
import { ConfigurationError, FatalSyncError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectionPool } from '../../core/postgres/connection-pool.js';
import type { DiscoveryContext, PluginContext, TapPlugin } from '../../core/plugins/tap-plugin.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { Catalog } from '../../core/singer/catalog.js';
import { setMetadata, streamMetadata } from '../../core/singer/catalog.js';
import { ChunkReader, type SliceSource } from './chunk-reader.js';
import { hypertableSlices, nativePartitionSlices, type Slice } from './partition-slices.js';
import { checkLookbackInterval, timescaledbConfigSchema, timescaleSettings, type TimescaleSettings } from './timescaledb-config.js';
import {
  chunkCompression,
  embeddedEngine,
  extensionInfo,
  hypertableRowEstimate,
  INTERNAL_SCHEMAS,
  listHypertables,
  listInternalRelations,
  timePartitioningFunction,
  type ExtensionInfo,
  type HypertableInfo,
  continuousAggregateWatermark,
  listContinuousAggregates,
  type ContinuousAggregateInfo,
} from './timescale-catalog.js';
import { applyHypertableDefaults, describeContinuousAggregate } from './time-series-defaults.js';
import { ContinuousAggregateReader } from './continuous-aggregate-reader.js';
import type pg from 'pg';
import { SnapshotExporter } from './snapshot-exporter.js';
import { checkDecompression } from './decompression-check.js';
import { relationSizes } from './slice-shards.js';

/** What the plugin learned about the database, once per run. */
export interface Detected {
  readonly extension?: ExtensionInfo;
  readonly hypertables: Map<string, HypertableInfo>;
  /** continuous aggregates by `schema\0view` (empty when TimescaleDB's catalog cannot be read) */
  readonly aggregates?: Map<string, ContinuousAggregateInfo>;
}

/** A service other plugins (compression) use to decide about slices. Registered under SLICE_POLICY. */
export interface SlicePolicy {
  /** a reason to skip this slice, or undefined to read it */
  skip(slice: Slice): string | undefined;
  /** waits for a permit to read this slice (a separate bound for compressed chunks); call the result when done */
  acquire?(slice: Slice): Promise<() => void>;
}
export const SLICE_POLICY = Symbol.for('tap.timescaledb.SlicePolicy');

const name = (schema: string, table: string): string => `${schema}\u0000${table}`;

/**
 * The TimescaleDB plugin: hypertables (and native partitioned tables) are read chunk by chunk by the
 * ChunkReader; discovery hides chunks and internal schemas and describes each hypertable.
 */
export class TimescaleDbPlugin implements TapPlugin {
  readonly name = 'timescaledb';
  readonly configSchema = timescaledbConfigSchema;
  readonly disabledNotice = 'hypertables are read by the default COPY reader (one query per table, no chunk pruning, no per-chunk resume)';
  private settings!: TimescaleSettings;
  private pool!: ConnectionPool;
  private log!: Logger;
  private container!: DependencyContainer;
  private detected?: Promise<Detected>;
  private clampWarned = false;
  private license: string | null = 'timescale';
  private snapshots?: SnapshotExporter;
  private snapshotWarned = false;
  private embedded?: Promise<boolean>;
  private readonly timeFunctions = new Map<string, Promise<string | null>>();
  /** hypertables whose chunks could not be listed: read as one slice (wholeHypertable) */
  private readonly unlisted = new Set<string>();

  register(container: DependencyContainer, ctx: PluginContext): void {
    this.settings = timescaleSettings(ctx.config.raw);
    this.pool = container.resolve(TOKENS.Pool);
    this.log = ctx.log;
    this.container = container;
    if (this.settings.consistentSnapshot) this.snapshots = new SnapshotExporter(this.pool, this.log);
    const reader = new ChunkReader({
      source: (rc) => this.sliceSource(rc.plan),
      concurrency: (rc) => this.concurrency(rc.plan),
      prefetch: () => this.prefetch(),
      transcodeWorkers: this.settings.transcodeWorkers,
      lookback: this.settings.lookback,
      skip: (slice) => this.checkSlice(slice),
      acquire: (slice) => this.policy()?.acquire?.(slice) ?? Promise.resolve(() => undefined),
      snapshot: () => this.snapshotId(),
      verify: (client, slice, select, inSnapshot) => checkDecompression(client, slice, select, this.license, inSnapshot),
      // hypertable chunks only (a native partition is read by `from`, and the whole-hypertable slice has no chunk row)
      status: (client, slice) => (slice.from || slice.key === WHOLE ? Promise.resolve(undefined) : chunkCompression(client, slice.chunks)),
      sizes: (chunks) => this.pool.use(async (c) => relationSizes(c, chunks, (await this.detect(c)).extension !== undefined)),
    });
    ctx.readers.register({
      name: 'timescaledb-chunks',
      precedence: 100,
      claims: (plan) => this.claims(plan),
      shapes: ['where', 'columns'],
      shardsByParts: true,
      // a hypertable read in one query has one part: it cannot be split into shards
      preflight: async (plan) => {
        const unlisted = this.unlisted.has(name(plan.relation.schema, plan.relation.name));
        if (unlisted && ctx.config.shard)
          throw new ConfigurationError(
            `stream ${plan.tapStreamId}: its chunks cannot be listed, so it cannot be split into ${ctx.config.shard.count} shards: grant SELECT on _timescaledb_catalog, or read it in one unsharded process`,
          );
      },
      reader,
    });
    ctx.readers.register({
      name: 'timescaledb-continuous-aggregate',
      precedence: 100,
      shapes: ['where', 'columns'],
      claims: async (plan) => plan.method === 'INCREMENTAL' && plan.replicationKey === (await this.aggregate(plan))?.bucketColumn,
      reader: new ContinuousAggregateReader({
        aggregate: async (rc) => (await this.aggregate(rc.plan))!,
        lookback: this.settings.lookback,
      }),
    });
  }

  async enrichCatalog(catalog: Catalog, ctx: DiscoveryContext): Promise<void> {
    const detected = await this.detect(ctx.client);
    if (!detected.extension) return;
    let internal: Set<string>;
    try {
      internal = await listInternalRelations(ctx.client);
    } catch (err) {
      this.log.warn(`cannot read TimescaleDB's catalog (${(err as Error).message}); hiding internal schemas by name only`);
      internal = new Set();
    }
    catalog.streams = catalog.streams.filter((s) => {
      const schema = String(streamMetadata(s)['schema-name'] ?? '');
      return !INTERNAL_SCHEMAS.has(schema) && !internal.has(name(schema, s.table_name));
    });
    let estimateWarned = false;
    for (const entry of catalog.streams) {
      const ht = detected.hypertables.get(name(String(streamMetadata(entry)['schema-name']), entry.table_name));
      if (!ht) continue;
      try {
        // the root's reltuples (what the core put there) is 0 for a hypertable: its rows live in chunks
        setMetadata(entry, [], { 'row-count': await hypertableRowEstimate(ctx.client, ht.schema, ht.name) });
      } catch (err) {
        if (!estimateWarned)
          this.log.warn(`cannot estimate hypertables' row counts (${(err as Error).message}): row-count left as PostgreSQL has it`);
        estimateWarned = true;
      }
      const md = streamMetadata(entry);
      applyHypertableDefaults(entry, ht, (md['valid-replication-keys'] as string[] | undefined) ?? []);
      const keys = ((md['valid-replication-keys'] as string[] | undefined) ?? []).filter((k) => k !== ht.timeColumn);
      setMetadata(entry, [], {
        'valid-replication-keys': [ht.timeColumn, ...keys],
        'timescaledb.hypertable': true,
        'timescaledb.time-column': ht.timeColumn,
        'timescaledb.time-column-type': ht.timeType,
        'timescaledb.chunk-interval': ht.chunkInterval,
        'timescaledb.num-chunks': ht.numChunks,
        'timescaledb.space-dimensions': ht.spaceDimensions,
        'timescaledb.compression-enabled': ht.compressionEnabled,
      });
    }
    for (const entry of catalog.streams) {
      const cagg = detected.aggregates?.get(name(String(streamMetadata(entry)['schema-name']), entry.table_name));
      if (!cagg) continue;
      const watermark = await continuousAggregateWatermark(ctx.client, cagg).catch((err: Error) => {
        this.log.warn(`${entry.tap_stream_id}: cannot read the continuous aggregate's watermark (${err.message})`);
        return null;
      });
      describeContinuousAggregate(entry, cagg, watermark);
    }
  }

  /** The continuous aggregate a stream reads, or undefined for any other relation. */
  private async aggregate(plan: StreamPlan): Promise<ContinuousAggregateInfo | undefined> {
    const detected = await this.pool.use((c) => this.detect(c));
    return detected.aggregates?.get(name(plan.relation.schema, plan.relation.name));
  }

  /** A compressed slice on the Apache-only build cannot be read (an error since 2.26.4, missing rows before): stop, never emit part of it. */
  private checkSlice(slice: Slice): string | undefined {
    const skip = this.policy()?.skip(slice);
    if (skip) return skip;
    if (slice.compressed && this.license === 'apache') {
      throw new FatalSyncError(
        `chunk ${slice.chunks.join(',')} is compressed, and the Apache-only build of TimescaleDB cannot read compressed data: use the community build, decompress the chunk, or set compressed_chunks to skip`,
      );
    }
    return undefined;
  }

  private policy(): SlicePolicy | undefined {
    return this.container.isRegistered(SLICE_POLICY, true) ? this.container.resolve<SlicePolicy>(SLICE_POLICY) : undefined;
  }

  /**
   * Claims partitioned tables and hypertables. A hypertable whose chunks cannot be listed (TimescaleDB's
   * catalog not readable, a catalog this version of the tap does not know) is read as one slice, the
   * whole hypertable in one query: no chunk pruning or per-chunk resume, but INCREMENTAL still filters on
   * `key >= bookmark − late_arrival_lookback` (the default reader would drop the lookback silently).
   */
  private async claims(plan: StreamPlan): Promise<boolean> {
    // asked for every stream, the first one before anything is written: the place to refuse a bad setting
    await (this.lookbackChecked ??= this.pool.use((c) => checkLookbackInterval(c, this.settings.lookback)));
    if (plan.relation.relkind === 'p') return true;
    const detected = await this.pool.use((c) => this.detect(c));
    const ht = detected.hypertables.get(name(plan.relation.schema, plan.relation.name));
    if (!ht) return false;
    try {
      const fn = await this.timeFunction(ht);
      await this.pool.use((c) => hypertableSlices(c, ht, fn));
    } catch (err) {
      this.log.warn(
        `${plan.tapStreamId}: cannot list the chunks of this hypertable (${(err as Error).message}): it is read in one query ` +
          '(no chunk pruning, no per-chunk resume; late_arrival_lookback still applies). Grant SELECT on _timescaledb_catalog to read it chunk by chunk',
      );
      this.unlisted.add(name(ht.schema, ht.name));
    }
    return true;
  }

  private lookbackChecked: Promise<void> | undefined;

  /** The time dimension's partitioning function, asked once per hypertable per run (it cannot change during one). */
  private timeFunction(ht: HypertableInfo): Promise<string | null> {
    const key = name(ht.schema, ht.name);
    let fn = this.timeFunctions.get(key);
    if (!fn) this.timeFunctions.set(key, (fn = this.pool.use((c) => timePartitioningFunction(c, ht.schema, ht.name))));
    return fn;
  }

  /** The sync's exported snapshot with consistent_snapshot, once the engine allows a second connection. */
  private async snapshotId(): Promise<string | undefined> {
    if (!this.snapshots) return undefined;
    if (await this.onEmbeddedEngine()) {
      if (!this.snapshotWarned) {
        this.log.warn(
          'consistent_snapshot is not available on the embedded engine: it takes one connection at a time, and the exporting transaction would hold it; each chunk is read in its own snapshot',
        );
      }
      this.snapshotWarned = true;
      return undefined;
    }
    // the exporting transaction keeps its own connection beside the readers and the chunk listing
    this.pool.ensureCapacity(this.settings.maxConcurrent + 2);
    return this.snapshots.id();
  }

  /**
   * PGlite takes one connection at a time: no parallel reads, no exporting transaction beside them.
   * Asked of the engine, not of the extension (timescaledb_support false, or no extension, still runs on it).
   */
  private onEmbeddedEngine(): Promise<boolean> {
    this.embedded ??= this.pool.use((c) => embeddedEngine(c));
    return this.embedded;
  }

  async onSyncEnd(): Promise<void> {
    await this.snapshots?.close();
  }

  /** Finds the extension and the hypertables once; `timescaledb_support: true` without the extension is a config error. */
  detect(client: pg.ClientBase): Promise<Detected> {
    this.detected ??= (async (): Promise<Detected> => {
      const extension = await extensionInfo(client);
      if (!extension) {
        if (this.settings.support === 'true') {
          throw new ConfigurationError(
            'timescaledb_support is true but the database has no timescaledb extension: set it to "auto" or install the extension',
          );
        }
        return { hypertables: new Map() };
      }
      this.license = extension.license;
      const license =
        extension.license === null ? 'license not set: its library is not loaded in this session' : `${extension.license} license`;
      this.log.info(`TimescaleDB ${extension.version} (${license})${extension.embedded ? ' on the embedded engine' : ''}`);
      if (this.settings.support === 'false') {
        // chunks and internal schemas stay hidden from discovery (they are never streams); hypertables are plain tables
        this.log.info(`timescaledb_support is false: ${this.disabledNotice}`);
        if (this.settings.lookback)
          this.log.warn(
            `late_arrival_lookback applies to native partitioned tables only while timescaledb_support is false: hypertables are read from their bookmark`,
          );
        return { extension, hypertables: new Map() };
      }
      try {
        const list = await listHypertables(client);
        let aggregates = new Map<string, ContinuousAggregateInfo>();
        try {
          aggregates = new Map((await listContinuousAggregates(client)).map((a) => [name(a.schema, a.name), a]));
        } catch (err) {
          this.log.warn(`cannot list continuous aggregates (${(err as Error).message}): they are read as plain views`);
        }
        return { extension, hypertables: new Map(list.map((h) => [name(h.schema, h.name), h])), aggregates };
      } catch (err) {
        const lookback = this.settings.lookback ? ', from their bookmark without late_arrival_lookback' : '';
        this.log.warn(`cannot list hypertables (${(err as Error).message}): hypertables are read by the default reader${lookback}`);
        return { extension, hypertables: new Map() };
      }
    })();
    return this.detected;
  }

  private async concurrency(plan: StreamPlan): Promise<number> {
    const wanted = this.settings.maxConcurrent;
    if (wanted <= 1) return 1;
    if (await this.onEmbeddedEngine()) {
      if (!this.clampWarned)
        this.log.warn(`max_concurrent_chunks ${wanted} clamped to 1: the embedded engine takes one connection at a time`);
      this.clampWarned = true;
      return 1;
    }
    this.pool.ensureCapacity(wanted + 1);
    this.log.info(`${plan.tapStreamId}: reading up to ${wanted} chunks at once`);
    return wanted;
  }

  /**
   * Chunk prefetch (max_concurrent_chunks 1): two reading connections, and room beside them for the
   * chunk listing, a plugin hook's queries and the exporting transaction of consistent_snapshot (a
   * reader waiting for a connection that the read ahead holds would wait for ever).
   */
  private async prefetch(): Promise<boolean> {
    if (!this.settings.prefetch || (await this.onEmbeddedEngine())) return false;
    this.pool.ensureCapacity(4);
    return true;
  }

  private async sliceSource(plan: StreamPlan): Promise<SliceSource> {
    const detected = await this.pool.use((c) => this.detect(c));
    const ht = detected.hypertables.get(name(plan.relation.schema, plan.relation.name));
    if (ht) {
      const kind = ['smallint', 'integer', 'bigint'].includes(ht.timeType) ? 'integer' : ht.timeType === 'uuid' ? 'uuid' : 'time';
      if (this.unlisted.has(name(ht.schema, ht.name))) return this.cached(ht.timeColumn, kind, async () => [wholeHypertable(ht)]);
      const fn = await this.timeFunction(ht);
      const load = (): Promise<Slice[]> => this.pool.use((c) => hypertableSlices(c, ht, fn));
      // partitioned by f(time column): the chunk ranges are not ranges of the column's values, so no pruning on them
      if (fn) return this.cached(null, null, load);
      return this.cached(ht.timeColumn, kind, load);
    }
    const first = await this.pool.use((c) => nativePartitionSlices(c, plan.relation.oid));
    const t = first.key.typname;
    const kind =
      t === null
        ? null
        : ['int2', 'int4', 'int8'].includes(t)
          ? 'integer'
          : ['timestamptz', 'timestamp', 'date'].includes(t)
            ? 'time'
            : null;
    return this.cached(
      kind ? first.key.column : null,
      kind,
      async () => (await this.pool.use((c) => nativePartitionSlices(c, plan.relation.oid))).slices,
    );
  }

  private cached(rangeColumn: string | null, rangeKind: SliceSource['rangeKind'], load: () => Promise<Slice[]>): SliceSource {
    let at = 0;
    let value: Promise<Slice[]> | undefined;
    const ttl = this.settings.cacheMs;
    return {
      rangeColumn,
      rangeKind,
      list: (fresh = false) => {
        if (fresh || !value || Date.now() - at >= ttl) {
          at = Date.now();
          value = load();
        }
        return value;
      },
    };
  }
}

const WHOLE = 'whole-hypertable';

/** The whole hypertable as one slice, for a hypertable whose chunks cannot be listed. */
function wholeHypertable(ht: HypertableInfo): Slice {
  return { key: WHOLE, lowerOrd: null, upperOrd: null, chunks: [`${ht.schema}.${ht.name}`], compressed: false, partial: false };
}
