import { estimateEtaSeconds } from './eta-estimate.js';
import type { StreamStats } from './stream-stats.js';

/** `1.5 MB`: decimal units, as the rest of the tap's logs. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The figures one progress line or bar shows for a stream. */
export interface ProgressFigures {
  readonly chunks: string;
  readonly rows: string;
  readonly rate: string;
  readonly bytes: string;
  readonly eta: string;
}

export function progressFigures(stats: StreamStats, now = Date.now()): ProgressFigures {
  const elapsedMs = (stats.endedAt ?? now) - stats.startedAt;
  const eta = stats.endedAt !== undefined ? 0 : estimateEtaSeconds({ ...stats.etaInput(), elapsedMs });
  const rate = elapsedMs > 0 ? Math.round(stats.rows / (elapsedMs / 1000)) : 0;
  return {
    chunks: stats.chunksTotal === undefined ? 'no chunks' : `${stats.chunksDone}/${stats.chunksTotal} chunks`,
    rows: `${stats.rows} rows`,
    rate: `${rate} rows/s`,
    bytes: formatBytes(stats.bytes),
    eta: eta === undefined ? 'ETA ?' : `ETA ${formatSeconds(eta)}`,
  };
}

/** `5/11 chunks, 500 rows, 1200 rows/s, 96.0 kB, ETA 3 s` */
export function progressLine(stats: StreamStats, now = Date.now()): string {
  const f = progressFigures(stats, now);
  return [f.chunks, f.rows, f.rate, f.bytes, f.eta].join(', ');
}
