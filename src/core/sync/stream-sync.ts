import { setTimeout as sleep } from 'node:timers/promises';
import type { TapConfig } from '../config/tap-config.js';
import { FatalSyncError, InterruptedError, OutputClosedError, isStopSync } from '../errors.js';
import type { Logger } from '../logger.js';
import { isRetriable, type ConnectionPool } from '../postgres/connection-pool.js';
import type { PluginHooks } from '../plugins/plugin-hooks.js';
import type { CopyRunner } from '../readers/copy-runner.js';
import type { ReaderRegistry } from '../readers/reader-registry.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { MessageWriter } from '../singer/message-writer.js';
import type { TapState } from '../singer/messages.js';
import { writeState, type StateOccasion } from './state-output.js';
import type { RecordSink } from '../batch/record-sink.js';
import { StreamRun, pluginStop, stoppedError } from './stream-run.js';

export interface StreamSyncDeps {
  readonly writer: MessageWriter;
  readonly readers: ReaderRegistry;
  readonly copy: CopyRunner;
  readonly pool: ConnectionPool;
  readonly config: TapConfig;
  readonly log: Logger;
  readonly hooks: PluginHooks;
  readonly signal: AbortSignal;
  /** where rows go (default: RECORD lines on stdout) */
  readonly sink?: RecordSink;
}

/**
 * Syncs one stream: SCHEMA, ACTIVATE_VERSION (FULL_TABLE), the reader's batches, STATE every
 * `state_every_n_rows` rows and at every partition end. A retriable failure (lost connection, lock
 * timeout) resumes from the last bookmark with bounded exponential backoff.
 */
export async function syncStream(planned: StreamPlan, state: TapState, deps: StreamSyncDeps): Promise<number> {
  const run = await StreamRun.open(planned, state, deps);
  try {
    await run.start();
    let failures = 0;
    for (;;) {
      try {
        for await (const batch of run.strategy.reader.read(run.context())) {
          if (await run.apply(batch)) await run.checkpoint();
          if (batch.rows > 0) failures = 0;
          if (deps.signal.aborted) throw await run.stopped();
        }
        break;
      } catch (err) {
        failures = await retryOrThrow(err, failures, [run], deps, state);
      }
    }
    return await run.finish();
  } catch (err) {
    throw await run.fail(err);
  }
}

/**
 * After a read failed: the number of failures so far when it may be retried (after the backoff, with the
 * STATE of what is complete written first), or throws the error the sync fails with.
 */
export async function retryOrThrow(
  err: unknown,
  failuresBefore: number,
  runs: readonly StreamRun[],
  deps: StreamSyncDeps,
  state: TapState,
): Promise<number> {
  const failures = failuresBefore + 1;
  const id = runs.map((r) => r.id).join(', ');
  if (deps.signal.aborted || !isRetriable(err) || failures >= deps.config.retry.attempts)
    throw await givenUp(err, failures, id, runs, deps, state);
  for (const r of runs) r.retries++;
  const delay = Math.min(deps.config.retry.maxDelayMs, deps.config.retry.initialDelayMs * 2 ** (failures - 1));
  deps.log.warn(
    `${id}: ${(err as Error).message}; retry ${failures}/${deps.config.retry.attempts - 1} in ${delay} ms from the last bookmark`,
  );
  // the rows before the failure are complete: the file that holds them closes before the STATE that covers them
  await checkpointAll(runs, deps, state);
  // a stop request during the wait (up to retry_max_delay_ms) must not wait it out
  await sleep(delay, undefined, { signal: deps.signal }).catch(() => undefined);
  if (deps.signal.aborted) throw stoppedError(id, deps.signal, ' while waiting to retry');
  return failures;
}

/** Every stream's rows so far durable, then one STATE with every bookmark. */
export async function checkpointAll(runs: readonly StreamRun[], deps: StreamSyncDeps, state: TapState): Promise<void> {
  if (runs.length === 1) {
    await runs[0]!.checkpoint();
    await runs[0]!.out.settle();
    return;
  }
  const snapshot = structuredClone(state);
  for (const r of runs) await r.out.checkpoint(async () => undefined);
  for (const r of runs) {
    await r.out.settle();
    r.sinceState = 0;
  }
  await writeState(deps.writer, snapshot);
}

/**
 * The error a stream fails with: STATE first (the bookmark covers every record written, so a rerun
 * resumes there instead of at the last periodic STATE), and a message that names the stream.
 */
async function givenUp(
  err: unknown,
  failures: number,
  id: string,
  runs: readonly StreamRun[],
  deps: StreamSyncDeps,
  state: TapState,
): Promise<unknown> {
  if (err instanceof InterruptedError || err instanceof OutputClosedError) return err;
  // no STATE unless the rows it covers are durable (a disk that failed the file fails this too)
  await checkpointAll(runs, deps, state).catch(() => undefined);
  if (isStopSync(err)) return pluginStop(err, id);
  // a stop request cut the read short (or it failed meanwhile): the stop is what happened
  if (deps.signal.aborted) return stoppedError(id, deps.signal);
  if (!isRetriable(err)) return err;
  const message = (err as Error).message;
  return new FatalSyncError(
    `${message.includes(id) ? '' : `${id}: `}${message} (gave up after ${failures} attempts; the last STATE holds what is complete: rerun with it to resume)`,
    { cause: err },
  );
}

/** Writes STATE (see state-output.ts for when a STATE that says nothing new is skipped). */
export async function emitState(writer: MessageWriter, state: TapState, occasion: StateOccasion = 'checkpoint'): Promise<void> {
  await writeState(writer, state, occasion);
}
