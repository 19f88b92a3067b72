import type { DependencyContainer } from 'tsyringe';
import type { Logger } from '../../core/logger.js';
import type { DiscoveryContext, PartitionEndEvent, PluginContext, TapPlugin } from '../../core/plugins/tap-plugin.js';
import type { Catalog } from '../../core/singer/catalog.js';
import { setMetadata, streamMetadata } from '../../core/singer/catalog.js';
import type { Slice } from '../timescaledb/partition-slices.js';
import { SLICE_POLICY, type SlicePolicy } from '../timescaledb/timescaledb-plugin.js';
import { compressionSettings, compressionStats, extensionInfo } from '../timescaledb/timescale-catalog.js';
import { Semaphore } from './semaphore.js';
import { SYNC_REPORT, type SyncReport } from '../metrics/sync-report.js';
import { chunkKind, type ChunkKind } from '../metrics/stream-stats.js';

type Kind = 'uncompressed' | 'compressed' | 'partially_compressed';
/** this report's own names (public output) for the chunk kinds that chunkKind() tells apart */
const KIND: Record<ChunkKind, Kind> = { plain: 'uncompressed', compressed: 'compressed', partial: 'partially_compressed' };

/**
 * Compressed chunks: where most of a TimescaleDB database's history lives. Reading a range through
 * the hypertable decompresses transparently (COPY of a compressed chunk itself would return nothing),
 * so the chunk reader already reads every kind in full; this plugin adds the policy around it:
 * `compressed_chunks: skip`, a separate concurrency bound, catalog metadata and a per-sync report.
 */
export class CompressionPlugin implements TapPlugin {
  readonly name = 'compression';
  readonly configSchema = {
    compressed_chunks: {
      type: 'string',
      enum: ['read', 'skip'],
      default: 'read',
      description: "Compressed chunks: 'read' (decompressed by the server as they are read) or 'skip' (with a warning per chunk).",
    },
    compressed_max_concurrent_chunks: {
      type: 'integer',
      minimum: 1,
      maximum: 10,
      default: 1,
      description: 'Compressed chunks read at once (decompression is costly on the server), within max_concurrent_chunks.',
    },
  };
  readonly disabledNotice = 'compressed chunks are still read in full, without compression metadata, the skip option or the report';
  private log!: Logger;
  private container!: DependencyContainer;
  /** per kind: chunks, rows, and the [start, end] of each read (concurrent reads overlap: the time is their union) */
  private readonly report = new Map<Kind, { chunks: number; rows: number; spans: [number, number][] }>();
  private skipped = 0;

  register(container: DependencyContainer, ctx: PluginContext): void {
    this.log = ctx.log;
    this.container = container;
    const mode = ctx.config.raw.compressed_chunks ?? 'read';
    const gate = new Semaphore((ctx.config.raw.compressed_max_concurrent_chunks as number | undefined) ?? 1);
    const policy: SlicePolicy = {
      skip: (slice: Slice) => (mode === 'skip' && slice.compressed ? `compressed (compressed_chunks: skip)` : undefined),
      acquire: (slice: Slice) => (slice.compressed ? gate.acquire() : Promise.resolve(() => undefined)),
    };
    container.register(SLICE_POLICY, { useValue: policy });
  }

  async enrichCatalog(catalog: Catalog, ctx: DiscoveryContext): Promise<void> {
    const ext = await extensionInfo(ctx.client);
    if (!ext) return;
    // TimescaleDB's catalog, or a hypertable elsewhere in the database, may be out of the role's reach:
    // discovery lists what the role can read and leaves the metadata it cannot get out, with one warning
    const unreadable: string[] = [];
    const settings = await compressionSettings(ctx.client, ext.version).catch((err: Error) => {
      unreadable.push(`segmentby/orderby (${err.message})`);
      return undefined;
    });
    for (const entry of catalog.streams) {
      const md = streamMetadata(entry);
      if (md['timescaledb.compression-enabled'] !== true) continue;
      const schema = String(md['schema-name']);
      const s = settings?.get(`${schema}\u0000${entry.table_name}`);
      if (settings)
        setMetadata(entry, [], {
          'timescaledb.compression.segmentby': s?.segmentby ?? null,
          'timescaledb.compression.orderby': s?.orderby ?? null,
        });
      try {
        const stats = await compressionStats(ctx.client, schema, entry.table_name);
        setMetadata(entry, [], {
          'timescaledb.compression.compressed-chunks': stats.compressedChunks,
          'timescaledb.compression.before-bytes': stats.beforeBytes,
          'timescaledb.compression.after-bytes': stats.afterBytes,
        });
      } catch (err) {
        unreadable.push(`${entry.tap_stream_id}'s compression stats (${(err as Error).message})`);
      }
    }
    if (unreadable.length > 0) {
      this.log.warn(
        `compression metadata left out of the catalog, TimescaleDB's catalog not readable by this role: ${unreadable.slice(0, 3).join('; ')}${unreadable.length > 3 ? `; and ${unreadable.length - 3} more` : ''}`,
      );
    }
  }

  onPartitionEnd(event: PartitionEndEvent): void {
    if (event.status === 'skipped') {
      if (event.partition.compressed) this.skipped++;
      return;
    }
    const kind = KIND[chunkKind(event.partition)];
    const r = this.report.get(kind) ?? { chunks: 0, rows: 0, spans: [] };
    r.chunks++;
    r.rows += event.rows;
    const end = Date.now();
    r.spans.push([end - event.durationMs, end]);
    this.report.set(kind, r);
  }

  /** The report by chunk kind: into the metrics summary when the metrics plugin is loaded, else a log line. */
  onSyncEnd(): void {
    if (this.report.size === 0 && this.skipped === 0) return;
    const kinds = (['uncompressed', 'compressed', 'partially_compressed'] as const).filter((k) => this.report.has(k));
    // one summary per kind, for the log line and the report's data alike
    const byKind = kinds.map((k) => {
      const { chunks, rows, spans } = this.report.get(k)!;
      return { kind: k, chunks, rows, seconds: coveredMs(spans) / 1000 };
    });
    const parts = byKind.map((r) => `${r.chunks} ${r.kind.replace('_', ' ')} (${r.rows} rows, ${r.seconds.toFixed(1)} s)`);
    if (this.skipped > 0) parts.push(`${this.skipped} compressed skipped`);
    const line = `compression: chunks read: ${parts.join(', ')}`;
    if (!this.container.isRegistered(SYNC_REPORT, true)) {
      this.log.info(line);
      return;
    }
    const data = {
      ...Object.fromEntries(byKind.map(({ kind, chunks, rows, seconds }) => [kind, { chunks, rows, seconds }])),
      compressed_skipped: this.skipped,
    };
    this.container.resolve<SyncReport>(SYNC_REPORT).add({ plugin: this.name, line, data });
  }
}

/** The time during which at least one of the spans ran: chunks read at once count once (wall time, not their sum). */
export function coveredMs(spans: readonly (readonly [number, number])[]): number {
  let total = 0;
  let reach = -Infinity;
  for (const [start, end] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (end > reach) total += end - Math.max(start, reach);
    reach = Math.max(reach, end);
  }
  return total;
}
