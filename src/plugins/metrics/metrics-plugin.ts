import { writeFileSync } from 'node:fs';
import { peakRssBytes } from './peak-rss.js';
import { resolve } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { Logger } from '../../core/logger.js';
import type {
  BatchEvent,
  PartitionEndEvent,
  PartitionStartEvent,
  PluginContext,
  StreamEndEvent,
  StreamStartEvent,
  SyncEndEvent,
  TapPlugin,
} from '../../core/plugins/tap-plugin.js';
import { metricsConfigSchema, metricsSettings, type MetricsSettings } from './metrics-config.js';
import { formatMetric, type MetricPoint } from './metric-lines.js';
import { NoProgress, PlainProgress, TerminalProgress, type ProgressDisplay } from './progress-display.js';
import { formatBytes } from './progress-format.js';
import { StreamStats } from './stream-stats.js';
import { SYNC_REPORT, SyncReportSections } from './sync-report.js';
import { buildSummary, summaryLines } from './sync-summary.js';

/** A batch at least this large has its memory checked at once (a large row makes one). */
const LARGE_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Singer METRIC lines (record_count increments, a timer per chunk and per stream), progress on stderr
 * and the end-of-sync summary (log block, and JSON with --metrics-file). Counters move per batch and
 * per chunk; everything printed is printed from timers or chunk/stream ends, so the cost does not
 * grow with the row count.
 */
export class MetricsPlugin implements TapPlugin {
  readonly name = 'metrics';
  /** observability: a failing counter or progress line must not stop a data sync */
  readonly bestEffort = true;
  readonly configSchema = metricsConfigSchema;
  readonly disabledNotice = 'no METRIC lines, progress or end-of-sync summary (and --metrics-file is not written)';
  private settings!: MetricsSettings;
  private log!: Logger;
  private display!: ProgressDisplay;
  private readonly report = new SyncReportSections();
  private readonly streams = new Map<string, StreamStats>();
  private current?: StreamStats;
  private startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private memoryWarned = false;
  private memoryCheckedAt = 0;

  register(container: DependencyContainer, ctx: PluginContext): void {
    this.settings = metricsSettings(ctx.config.raw);
    this.log = ctx.log;
    this.startedAt = Date.now();
    container.register(SYNC_REPORT, { useValue: this.report });
  }

  onStreamStart(event: StreamStartEvent): void {
    if (this.timers.length === 0) this.start();
    const stats = new StreamStats(event.plan.tapStreamId, event.reader);
    this.streams.set(stats.id, stats);
    this.current = stats;
    this.display.add(stats);
  }

  onBatch(event: BatchEvent): void {
    const stats = this.current?.id === event.plan.tapStreamId ? this.current : this.streams.get(event.plan.tapStreamId);
    stats?.batch(event.rows, event.bytes);
    // per batch, not only between chunks and on the display's tick: a single 500 MB row took the tap to
    // 1.47 GB and back between two checks, unwarned. Reading the RSS costs ~20 µs (a /proc read), so a
    // batch of ordinary size checks at most once a second; a large one (a large row) always does.
    if (event.bytes >= LARGE_BATCH_BYTES || Date.now() - this.memoryCheckedAt >= 1000) this.checkMemory();
  }

  onPartitionStart(event: PartitionStartEvent): void {
    this.streams.get(event.plan.tapStreamId)?.observeTotal(event.total);
  }

  onPartitionEnd(event: PartitionEndEvent): void {
    const stats = this.streams.get(event.plan.tapStreamId);
    if (!stats) return;
    stats.partitionEnd(event);
    if (event.status !== 'skipped') {
      const p = event.partition;
      const tags = { stream: stats.id, chunk: p.id, compressed: p.compressed === true, partial: p.partial === true, status: event.status };
      this.emit({ type: 'timer', metric: 'chunk_duration', value: event.durationMs / 1000, tags });
    }
    this.checkMemory();
  }

  onStreamEnd(event: StreamEndEvent): void {
    const stats = this.streams.get(event.plan.tapStreamId);
    if (!stats) return;
    stats.end(event);
    this.flushCount(stats);
    this.emit({ type: 'timer', metric: 'sync_duration', value: event.durationMs / 1000, tags: { stream: stats.id, status: event.status } });
    this.display.done(stats);
  }

  onSyncEnd(event: SyncEndEvent): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.streams.values()) this.flushCount(s);
    this.display?.stop();
    const summary = buildSummary(this.streams.values(), {
      status: event.status,
      startedAt: this.startedAt,
      endedAt: Date.now(),
      peakRssBytes: peakRssBytes(),
      sections: this.report.sections,
    });
    for (const line of summaryLines(summary, this.report.sections)) this.log.info(line);
    if (this.settings.file) {
      const path = resolve(this.settings.file);
      try {
        writeFileSync(path, JSON.stringify(summary, null, 2) + '\n');
      } catch (err) {
        this.log.warn(
          `metrics: cannot write the metrics file ${path} (${(err as Error).message}): check the directory exists and is writable`,
        );
      }
    }
  }

  /** The display and the timers, at the first stream: discovery and --about never start them. */
  private start(): void {
    const { progress, progressIntervalMs, intervalMs } = this.settings;
    this.display =
      progress === 'off'
        ? new NoProgress(this.log, progressIntervalMs)
        : process.stderr.isTTY
          ? new TerminalProgress()
          : new PlainProgress(this.log, progressIntervalMs);
    const every = (ms: number, fn: () => void): void => {
      this.timers.push(setInterval(fn, ms).unref());
    };
    every(intervalMs, () => this.streams.forEach((s) => this.flushCount(s)));
    every(this.display.tickMs, () => {
      this.display.tick([...this.streams.values()].filter((s) => s.endedAt === undefined));
      this.checkMemory();
    });
  }

  /** A record_count METRIC with the rows since the last one (Singer counters report increments). */
  private flushCount(stats: StreamStats): void {
    if (stats.unreportedRows === 0) return;
    const value = stats.unreportedRows;
    stats.unreportedRows = 0;
    // `endpoint` for singer-python's tooling, `stream` for singer-sdk's
    this.emit({ type: 'counter', metric: 'record_count', value, tags: { endpoint: stats.id, stream: stats.id } });
  }

  private emit(point: MetricPoint): void {
    this.display.line(formatMetric(point, this.settings.format));
  }

  private checkMemory(): void {
    const limit = this.settings.memoryWarnBytes;
    if (limit === 0 || this.memoryWarned) return;
    this.memoryCheckedAt = Date.now();
    const rss = process.memoryUsage.rss();
    if (rss <= limit) return;
    this.memoryWarned = true;
    this.log.warn(
      `memory: the tap's RSS is ${formatBytes(rss)}, past memory_warn_mb (${limit / 1024 / 1024} MB): ` +
        'lower max_concurrent_chunks or state_every_n_rows (smaller batches), or raise memory_warn_mb',
    );
  }
}
