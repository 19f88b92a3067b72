import type { PartitionEndEvent, StreamEndEvent } from '../../core/plugins/tap-plugin.js';
import type { EtaInput } from './eta-estimate.js';

/** The kind of a chunk as the readers report it (`compressed`, `partial` in the partition info). */
export type ChunkKind = 'plain' | 'compressed' | 'partial';

export function chunkKind(partition: { compressed?: boolean; partial?: unknown }): ChunkKind {
  return partition.partial === true ? 'partial' : partition.compressed ? 'compressed' : 'plain';
}

/**
 * Counters of one stream's sync. Updated per batch (rows, bytes) and per chunk, never per row.
 * Chunk totals come per reading round: a reader that finds new chunks after its first pass starts a
 * new round with its own total, so the stream's total is the chunks of finished rounds plus this one's.
 */
export class StreamStats {
  rows = 0;
  bytes = 0;
  /** rows not yet reported in a record_count METRIC (increments, as Singer counters are) */
  unreportedRows = 0;
  readonly chunks: Record<ChunkKind, number> = { plain: 0, compressed: 0, partial: 0 };
  chunksFailed = 0;
  chunksDone = 0;
  rowsInReadChunks = 0;
  readonly skipped: { chunk: string; reason: string }[] = [];
  endedAt?: number;
  status?: 'succeeded' | 'failed';
  retries = 0;
  private roundBase = 0;
  private roundTotal?: number;

  constructor(
    readonly id: string,
    readonly reader: string,
    readonly startedAt = Date.now(),
  ) {}

  get chunksRead(): number {
    return this.chunks.plain + this.chunks.compressed + this.chunks.partial;
  }

  get chunksTotal(): number | undefined {
    return this.roundTotal === undefined ? undefined : this.roundBase + this.roundTotal;
  }

  /** A partition event's `total`: the chunks planned in the reader's current round. */
  observeTotal(total: number | undefined): void {
    if (total === undefined) return;
    if (this.roundTotal === undefined || this.chunksDone - this.roundBase >= this.roundTotal) {
      this.roundBase = this.chunksDone;
      this.roundTotal = total;
    }
  }

  batch(rows: number, bytes: number): void {
    this.rows += rows;
    this.unreportedRows += rows;
    this.bytes += bytes;
  }

  partitionEnd(event: PartitionEndEvent): void {
    this.observeTotal(event.total);
    this.chunksDone++;
    if (event.status === 'skipped') {
      this.skipped.push({ chunk: event.partition.id, reason: event.reason ?? 'unknown' });
    } else if (event.status === 'failed') {
      this.chunksFailed++;
    } else {
      this.chunks[chunkKind(event.partition)]++;
      this.rowsInReadChunks += event.rows;
    }
  }

  end(event: StreamEndEvent): void {
    this.endedAt = this.startedAt + event.durationMs;
    this.status = event.status;
    this.retries = event.retries;
    // the sync's own count is the truth; it equals the batches seen unless an onBatch call was lost
    this.unreportedRows += event.rows - this.rows;
    this.rows = event.rows;
  }

  etaInput(): Omit<EtaInput, 'elapsedMs'> {
    return {
      rows: this.rows,
      chunksDone: this.chunksDone,
      chunksRead: this.chunksRead,
      rowsInReadChunks: this.rowsInReadChunks,
      chunksTotal: this.chunksTotal,
    };
  }
}
