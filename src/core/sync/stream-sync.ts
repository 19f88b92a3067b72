import { setTimeout as sleep } from 'node:timers/promises';
import type { TapConfig } from '../config/tap-config.js';
import { FatalSyncError, InterruptedError, OutputClosedError, StopSyncError, isStopSync } from '../errors.js';
import type { Logger } from '../logger.js';
import { isRetriable, type ConnectionPool } from '../postgres/connection-pool.js';
import { checkBookmarkValues } from './bookmark-check.js';
import type { PluginHooks } from '../plugins/plugin-hooks.js';
import type { CopyRunner } from '../readers/copy-runner.js';
import type { ReaderRegistry } from '../readers/reader-registry.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { MessageWriter } from '../singer/message-writer.js';
import type { StreamBookmark, TapState } from '../singer/messages.js';
import { writeState, type StateOccasion } from './state-output.js';
import { shardedPlan } from './shard-split.js';
import { StdoutRecordSink, type RecordSink, type StreamOutput } from '../batch/record-sink.js';

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
  const { writer, config, log, hooks } = deps;
  const id = planned.tapStreamId;
  const strategy = await deps.readers.choose(planned);
  // the reader may change the columns it reads (and so the SCHEMA the target sees) before anything is written
  const prepared = strategy.prepare ? await strategy.prepare(planned) : planned;
  const plan0 = config.shard ? shardedPlan(prepared, strategy, config.shard, log) : prepared;
  let bookmark: StreamBookmark = { ...(state.bookmarks[id] ?? {}) };
  if (plan0.method === 'INCREMENTAL' && bookmark.replication_key && bookmark.replication_key !== plan0.replicationKey) {
    log.warn(
      `${id}: the state's replication key ${bookmark.replication_key} differs from ${plan0.replicationKey}; starting from the beginning`,
    );
    bookmark = {};
  }
  await checkBookmarkValues(deps.pool, plan0, bookmark);
  const fresh = bookmark.version === undefined;
  const plan: StreamPlan = plan0.method === 'FULL_TABLE' ? { ...plan0, version: bookmark.version ?? Date.now() } : plan0;
  if (plan.version !== undefined) bookmark.version = plan.version;
  state.currently_syncing = id;
  state.bookmarks[id] = bookmark;

  await writer.write({
    type: 'SCHEMA',
    stream: plan.stream,
    schema: {
      type: 'object',
      properties: Object.fromEntries(plan.columns.map((c) => [c.name, plan.entry.schema.properties[c.name] ?? c.codec.schema])),
    },
    key_properties: plan.keyProperties,
    bookmark_properties: plan.replicationKey ? [plan.replicationKey] : [],
  });
  if (plan.method === 'FULL_TABLE' && fresh && config.activateVersion)
    await writer.write({ type: 'ACTIVATE_VERSION', stream: plan.stream, version: plan.version! });
  await emitState(writer, state, 'boundary');
  log.info(
    `${id}: ${plan.method}${plan.replicationKey ? ` on ${plan.replicationKey}` : ''} with reader ${strategy.name}${fresh ? '' : ' (resuming)'}`,
  );

  const out = (deps.sink ?? new StdoutRecordSink(writer, config.stateEveryNRows)).forStream(plan);
  // the STATE of this moment, written once the rows before it are durable (maybe after more rows are read)
  const stateNow = () => {
    const snapshot = structuredClone(state);
    return () => emitState(writer, snapshot);
  };
  // a reader's own copy under a new version: ACTIVATE_VERSION after its records, before the STATE that follows
  const activate = async (version: number): Promise<void> => {
    if (!config.activateVersion) {
      log.warn(`${id}: activate_version is off, so the target keeps rows the new copy (table version ${version}) does not have`);
      return;
    }
    await out.checkpoint(() => writer.write({ type: 'ACTIVATE_VERSION', stream: plan.stream, version }));
  };
  const started = Date.now();
  let rows = 0;
  let retries = 0;
  let ended = false;
  try {
    await hooks.streamStart({ plan, reader: strategy.name, pool: deps.pool, signal: deps.signal });
    let failures = 0;
    for (;;) {
      try {
        let sinceState = 0;
        const ctx = {
          plan,
          bookmark,
          pool: deps.pool,
          config,
          log,
          copy: deps.copy,
          partitions: hooks.partitions(plan),
          signal: deps.signal,
        };
        for await (const batch of strategy.reader.read(ctx)) {
          await out.write(batch);
          rows += batch.rows;
          sinceState += batch.rows;
          bookmark = batch.bookmark;
          state.bookmarks[id] = bookmark;
          // after the bookmark moved: a hook that stops the sync here leaves STATE covering this batch
          if (batch.rows > 0) hooks.batch({ plan, rows: batch.rows, bytes: batch.bytes.length });
          if (batch.rows > 0) failures = 0;
          if (batch.activateVersion !== undefined) await activate(batch.activateVersion);
          if (batch.checkpoint || sinceState >= out.rowsPerState) {
            await out.checkpoint(stateNow());
            sinceState = 0;
          }
          if (deps.signal.aborted) {
            await out.checkpoint(stateNow());
            await out.settle();
            throw stopped(id, deps.signal);
          }
        }
        break;
      } catch (err) {
        if (deps.signal.aborted || !isRetriable(err) || ++failures >= config.retry.attempts)
          throw await givenUp(err, failures, id, deps, state, out);
        retries++;
        const delay = Math.min(config.retry.maxDelayMs, config.retry.initialDelayMs * 2 ** (failures - 1));
        log.warn(`${id}: ${(err as Error).message}; retry ${failures}/${config.retry.attempts - 1} in ${delay} ms from the last bookmark`);
        // the rows before the failure are complete: the file that holds them closes before the STATE that covers them
        await out.checkpoint(stateNow());
        await out.settle();
        // a stop request during the wait (up to retry_max_delay_ms) must not wait it out
        await sleep(delay, undefined, { signal: deps.signal }).catch(() => undefined);
        if (deps.signal.aborted) {
          throw stopped(id, deps.signal, ' while waiting to retry');
        }
      }
    }
    await out.checkpoint(async () => undefined);
    await out.settle();
    if (plan.method === 'FULL_TABLE') {
      if (config.activateVersion) await writer.write({ type: 'ACTIVATE_VERSION', stream: plan.stream, version: plan.version! });
      // a complete full sync leaves no resume position: the next run starts a new version
      bookmark = {};
      state.bookmarks[id] = bookmark;
    }
    await emitState(writer, state, 'boundary');
    ended = true;
    await hooks.streamEnd({ plan, rows, durationMs: Date.now() - started, status: 'succeeded', retries }).catch((err) => {
      throw isStopSync(err) ? pluginStop(err, id) : err;
    });
    log.info(`${id}: ${rows} records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return rows;
  } catch (err) {
    await out.abandon().catch(() => undefined);
    // a stop from onStreamEnd after success: the stream ended already, tell no plugin twice
    if (!ended) await hooks.streamEnd({ plan, rows, durationMs: Date.now() - started, status: 'failed', error: err, retries });
    throw isStopSync(err) ? pluginStop(err, id) : err;
  }
}

/**
 * The error a stream fails with: STATE first (the bookmark covers every record written, so a rerun
 * resumes there instead of at the last periodic STATE), and a message that names the stream.
 */
async function givenUp(
  err: unknown,
  failures: number,
  id: string,
  deps: StreamSyncDeps,
  state: TapState,
  out: StreamOutput,
): Promise<unknown> {
  if (err instanceof InterruptedError || err instanceof OutputClosedError) return err;
  // no STATE unless the rows it covers are durable (a disk that failed the file fails this too)
  await out
    .checkpoint(() => emitState(deps.writer, state))
    .then(() => out.settle())
    .catch(() => undefined);
  if (isStopSync(err)) return pluginStop(err, id);
  // a stop request cut the read short (or it failed meanwhile): the stop is what happened
  if (deps.signal.aborted) return stopped(id, deps.signal);
  if (!isRetriable(err)) return err;
  const message = (err as Error).message;
  return new FatalSyncError(
    `${message.includes(id) ? '' : `${id}: `}${message} (gave up after ${failures} attempts; the last STATE holds what is complete: rerun with it to resume)`,
    { cause: err },
  );
}

/** A plugin's stop, in the plugin's words, with the stream it happened in (STATE is written by then). */
function pluginStop(err: StopSyncError, id: string): StopSyncError {
  if (err.stream !== undefined) return err;
  const stop = new StopSyncError(
    `plugin ${err.plugin ?? '(unknown)'} stopped the sync during ${id}: ${err.message} (STATE holds what is complete: rerun with it to resume)`,
    { cause: err },
  );
  stop.plugin = err.plugin;
  stop.stream = id;
  return stop;
}

/** The error of a stream stopped by a signal (its exit code follows the signal), after STATE was written. */
function stopped(id: string, signal: AbortSignal, when = ''): InterruptedError {
  return new InterruptedError(
    `stopped by ${String(signal.reason ?? 'a signal')} during ${id}${when}; STATE holds what is complete`,
    signal.reason,
  );
}

/** Writes STATE (see state-output.ts for when a STATE that says nothing new is skipped). */
export async function emitState(writer: MessageWriter, state: TapState, occasion: StateOccasion = 'checkpoint'): Promise<void> {
  await writeState(writer, state, occasion);
}
