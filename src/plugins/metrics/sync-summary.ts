import type { ReportSection } from './sync-report.js';
import type { StreamStats } from './stream-stats.js';
import { formatBytes } from './progress-format.js';

/** What `--metrics-file` holds: the end-of-sync summary as data. */
export interface SyncSummary {
  readonly status: 'succeeded' | 'failed';
  readonly started_at: string;
  readonly duration_seconds: number;
  readonly rows: number;
  readonly bytes: number;
  readonly peak_rss_bytes: number;
  readonly streams: Record<string, StreamSummary>;
  readonly reports: Record<string, Record<string, unknown>>;
}

export interface StreamSummary {
  readonly status: 'succeeded' | 'failed' | 'unfinished';
  readonly reader: string;
  readonly rows: number;
  readonly bytes: number;
  readonly duration_seconds: number;
  readonly rows_per_second: number;
  readonly bytes_per_second: number;
  readonly retries: number;
  readonly chunks: {
    readonly plain: number;
    readonly compressed: number;
    readonly partial: number;
    readonly failed: number;
    readonly skipped: number;
  };
  readonly skipped_chunks: readonly { readonly chunk: string; readonly reason: string }[];
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export function buildSummary(
  streams: Iterable<StreamStats>,
  run: { status: 'succeeded' | 'failed'; startedAt: number; endedAt: number; peakRssBytes: number; sections: readonly ReportSection[] },
): SyncSummary {
  const out: Record<string, StreamSummary> = {};
  let rows = 0;
  let bytes = 0;
  for (const s of streams) {
    const seconds = ((s.endedAt ?? run.endedAt) - s.startedAt) / 1000;
    rows += s.rows;
    bytes += s.bytes;
    out[s.id] = {
      status: s.status ?? 'unfinished',
      reader: s.reader,
      rows: s.rows,
      bytes: s.bytes,
      duration_seconds: round3(seconds),
      rows_per_second: seconds > 0 ? Math.round(s.rows / seconds) : 0,
      bytes_per_second: seconds > 0 ? Math.round(s.bytes / seconds) : 0,
      retries: s.retries,
      chunks: { ...s.chunks, failed: s.chunksFailed, skipped: s.skipped.length },
      skipped_chunks: [...s.skipped],
    };
  }
  return {
    status: run.status,
    started_at: new Date(run.startedAt).toISOString(),
    duration_seconds: round3((run.endedAt - run.startedAt) / 1000),
    rows,
    bytes,
    peak_rss_bytes: run.peakRssBytes,
    streams: out,
    reports: Object.fromEntries(run.sections.map((r) => [r.plugin, r.data])),
  };
}

/** The summary as the log block on stderr: a head line, a line per stream, a line per plugin report. */
export function summaryLines(summary: SyncSummary, sections: readonly ReportSection[]): string[] {
  const lines = [
    `sync summary: ${summary.status} in ${summary.duration_seconds.toFixed(1)} s, ${summary.rows} rows, ${formatBytes(summary.bytes)}, peak RSS ${formatBytes(summary.peak_rss_bytes)}`,
  ];
  for (const [id, s] of Object.entries(summary.streams)) {
    const c = s.chunks;
    const read = c.plain + c.compressed + c.partial;
    const chunks =
      read + c.failed + c.skipped === 0 ? '' : `, ${read} chunks (${c.plain} plain, ${c.compressed} compressed, ${c.partial} partial)`;
    const skipped = c.skipped === 0 ? '' : `, ${c.skipped} skipped (${[...new Set(s.skipped_chunks.map((k) => k.reason))].join('; ')})`;
    const failed = c.failed === 0 ? '' : `, ${c.failed} failed`;
    lines.push(
      `  ${id}: ${s.status}, ${s.rows} rows${chunks}${skipped}${failed}, ${formatBytes(s.bytes)} in ${s.duration_seconds.toFixed(1)} s, ` +
        `${s.rows_per_second} rows/s, ${formatBytes(s.bytes_per_second)}/s, ${s.retries} retries`,
    );
  }
  for (const section of sections) lines.push(`  ${section.line}`);
  return lines;
}
