import type { ReadBatch, ReadPass } from '../readers/table-reader.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { TapState } from '../singer/messages.js';
import { StreamRun, stoppedError } from './stream-run.js';
import { checkpointAll, retryOrThrow, type StreamSyncDeps } from './stream-sync.js';

/**
 * Syncs the streams one strategy reads in one pass (ReaderStrategy.readsTogether; LOG_BASED: one decode
 * of the slot for all of them): every SCHEMA first, then each stream's reader runs with the same `pass`
 * and their batches are written as they come, interleaved (Singer allows it: each stream's SCHEMA is
 * before its first record). Every STATE carries every stream's bookmark, written once the rows of every
 * stream before it are durable. A retriable failure of one read ends the pass; all resume from their bookmarks.
 */
export async function syncTogether(plans: readonly StreamPlan[], state: TapState, deps: StreamSyncDeps): Promise<void> {
  const runs: StreamRun[] = [];
  try {
    for (const plan of plans) runs.push(await StreamRun.open(plan, state, deps));
    for (const run of runs) await run.start();
    deps.log.info(`${runs.map((r) => r.id).join(', ')}: read together in one pass by ${runs[0]?.strategy.name ?? ''}`);
    let failures = 0;
    for (;;) {
      const ended = new AbortController();
      const pass: ReadPass = { streams: runs.map((r) => r.id), signal: ended.signal };
      try {
        const reads = runs.map((run) => ({ run, batches: run.strategy.reader.read(run.context(pass)) }));
        for await (const { run, batch } of interleave(reads, ended)) {
          if (await run.apply(batch)) await checkpointAll(runs, deps, state);
          if (batch.rows > 0) failures = 0;
          if (deps.signal.aborted) {
            await checkpointAll(runs, deps, state);
            throw stoppedError(runs.map((r) => r.id).join(', '), deps.signal);
          }
        }
        break;
      } catch (err) {
        failures = await retryOrThrow(err, failures, runs, deps, state);
      }
    }
    for (const run of runs) await run.finish();
  } catch (err) {
    let reported: unknown = err;
    for (const run of runs) {
      const named = await run.fail(err);
      if (reported === err) reported = named;
    }
    throw reported;
  }
}

/**
 * The batches of several reads as each comes (every read is asked for its next batch while the others
 * are written). When one fails or the loop ends, `ended` is aborted first (a shared source stops, so no
 * read waits for it), then every read is closed.
 */
async function* interleave<T extends { run: StreamRun; batches: AsyncIterable<ReadBatch> }>(
  reads: readonly T[],
  ended: AbortController,
): AsyncGenerator<{ run: StreamRun; batch: ReadBatch }> {
  const iterators = reads.map((r) => r.batches[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<ReadBatch> }>>();
  const ask = (index: number): void => {
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  };
  try {
    reads.forEach((_, i) => ask(i));
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      pending.delete(index);
      if (result.done) continue;
      yield { run: reads[index]!.run, batch: result.value };
      ask(index);
    }
  } finally {
    ended.abort();
    // a read still waiting settles now that the pass has ended; its outcome no longer matters
    await Promise.allSettled(pending.values());
    await Promise.allSettled(iterators.map(async (it) => it.return?.()));
  }
}
