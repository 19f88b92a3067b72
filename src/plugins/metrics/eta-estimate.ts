/** What a stream has done so far, as the metrics plugin counts it (per batch and per chunk). */
export interface EtaInput {
  /** wall-clock time since the stream started */
  readonly elapsedMs: number;
  /** records emitted, including those of chunks still being read */
  readonly rows: number;
  /** chunks finished in any way (read, skipped, dropped) */
  readonly chunksDone: number;
  /** chunks read to their end, and the records they held */
  readonly chunksRead: number;
  readonly rowsInReadChunks: number;
  /** chunks the reader plans to read in all; unknown for readers that do not report partitions */
  readonly chunksTotal?: number;
}

/**
 * Seconds left for a stream, from its chunk statistics, or undefined when nothing can be said yet.
 * The remaining chunks are assumed to hold as many rows as the finished ones did on average, read at
 * the stream's rate so far (wall clock, so concurrent chunk reads are counted as they happen). Rows of
 * chunks in flight count as done: the estimate moves within a long chunk instead of jumping at its end.
 * When the finished chunks held no rows (empty or skipped), the time per chunk is used instead.
 */
export function estimateEtaSeconds(input: EtaInput): number | undefined {
  const { elapsedMs, rows, chunksDone, chunksRead, rowsInReadChunks, chunksTotal } = input;
  if (chunksTotal === undefined) return undefined;
  const remaining = chunksTotal - chunksDone;
  if (remaining <= 0) return 0;
  if (elapsedMs <= 0) return undefined;
  const elapsed = elapsedMs / 1000;
  if (chunksRead > 0 && rowsInReadChunks > 0 && rows > 0) {
    const perChunk = rowsInReadChunks / chunksRead;
    const inFlight = Math.max(0, rows - rowsInReadChunks);
    const rowsLeft = Math.max(0, perChunk * remaining - inFlight);
    return rowsLeft / (rows / elapsed);
  }
  if (chunksDone > 0) return (elapsed / chunksDone) * remaining;
  return undefined;
}
