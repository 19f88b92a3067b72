import { InterruptedError, StopSyncError, isStopSync } from '../errors.js';
import type { ReaderStrategy, ReadBatch, ReadContext, ReadPass } from '../readers/table-reader.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { StreamBookmark, TapState } from '../singer/messages.js';
import { checkBookmarkValues } from './bookmark-check.js';
import { StdoutRecordSink, type StreamOutput } from '../batch/record-sink.js';
import { writeState } from './state-output.js';
import { schemaMessage } from './schema-message.js';
import { shardedPlan } from './shard-split.js';
import type { StreamSyncDeps } from './stream-sync.js';

/**
 * One stream's part of a sync, whoever drives its reads (syncStream alone, or syncTogether with the
 * streams its strategy reads in one pass): SCHEMA and ACTIVATE_VERSION at `open`, each batch's rows,
 * bookmark and activation at `apply`, the last STATE and hooks at `finish` or `fail`.
 */
export class StreamRun {
  rows = 0;
  retries = 0;
  sinceState = 0;
  private ended = false;
  private readonly started = Date.now();

  private constructor(
    readonly plan: StreamPlan,
    readonly strategy: ReaderStrategy,
    readonly out: StreamOutput,
    private bookmark: StreamBookmark,
    private readonly state: TapState,
    private readonly deps: StreamSyncDeps,
  ) {}

  get id(): string {
    return this.plan.tapStreamId;
  }

  /** Chooses and prepares the strategy, writes SCHEMA (and ACTIVATE_VERSION of a fresh FULL_TABLE version). */
  static async open(planned: StreamPlan, state: TapState, deps: StreamSyncDeps): Promise<StreamRun> {
    const { writer, config, log } = deps;
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
    // the output first: a record transform may drop or retype properties, and the SCHEMA says so
    const out = (deps.sink ?? new StdoutRecordSink(writer, config.stateEveryNRows)).forStream(plan);
    await writer.write(schemaMessage(out.described ?? plan));
    // a BATCH file gets the rows of the stream's own columns in its own form (COPY text for Parquet, records
    // for JSONL); a change stream's records carry more than its columns, so they stay RECORD lines
    const form = plan.method === 'LOG_BASED' ? undefined : out.takes;
    const read: StreamPlan = form ? { ...plan, rowForm: { form, columns: plan.columns.map((c) => c.name) } } : plan;
    if (form && config.decoder !== 'csv')
      log.debug(
        `${id}: rows go to the batch files ${form === 'copy-text' ? 'as COPY text, with no RECORD JSON in between' : 'as records, with no RECORD line around them'}`,
      );
    if (plan.method === 'FULL_TABLE' && fresh && config.activateVersion)
      await writer.write({ type: 'ACTIVATE_VERSION', stream: plan.stream, version: plan.version! });
    await writeState(writer, state, 'boundary');
    log.info(
      `${id}: ${plan.method}${plan.replicationKey ? ` on ${plan.replicationKey}` : ''} with reader ${strategy.name}${fresh ? '' : ' (resuming)'}`,
    );
    return new StreamRun(read, strategy, out, bookmark, state, deps);
  }

  /** onStreamStart (a failure in it is the stream's: call `fail`). */
  async start(): Promise<void> {
    await this.deps.hooks.streamStart({ plan: this.plan, reader: this.strategy.name, pool: this.deps.pool, signal: this.deps.signal });
  }

  /** The context of a read (a retry's too): it resumes at the bookmark of the last batch applied. */
  context(pass?: ReadPass): ReadContext {
    const { deps } = this;
    return {
      plan: this.plan,
      bookmark: this.bookmark,
      pool: deps.pool,
      config: deps.config,
      log: deps.log,
      copy: deps.copy,
      partitions: deps.hooks.partitions(this.plan),
      signal: deps.signal,
      ...(pass ? { pass } : {}),
    };
  }

  /** Writes a batch and takes its bookmark; true when a STATE is due (a checkpoint, or state_every_n_rows rows). */
  async apply(batch: ReadBatch): Promise<boolean> {
    // before the write: a BATCH file may take the batch's buffer (a Parquet file moves it to its thread)
    const bytes = batch.bytes.length;
    await this.out.write(batch);
    this.rows += batch.rows;
    this.sinceState += batch.rows;
    this.bookmark = batch.bookmark;
    this.state.bookmarks[this.id] = this.bookmark;
    // after the bookmark moved: a hook that stops the sync here leaves STATE covering this batch
    if (batch.rows > 0) this.deps.hooks.batch({ plan: this.plan, rows: batch.rows, bytes });
    if (batch.activateVersion !== undefined) await this.activate(batch.activateVersion);
    return batch.checkpoint === true || this.sinceState >= this.out.rowsPerState;
  }

  /** The STATE of this moment, written once this stream's rows before it are durable. */
  async checkpoint(): Promise<void> {
    const snapshot = structuredClone(this.state);
    await this.out.checkpoint(async () => {
      await writeState(this.deps.writer, snapshot);
    });
    this.sinceState = 0;
  }

  /** A stop request was seen: STATE for what is written, then the InterruptedError to throw. */
  async stopped(when = ''): Promise<InterruptedError> {
    await this.checkpoint();
    await this.out.settle();
    return stoppedError(this.id, this.deps.signal, when);
  }

  /** The end of a complete read: the last rows durable, FULL_TABLE's ACTIVATE_VERSION, STATE, onStreamEnd. */
  async finish(): Promise<number> {
    const { writer, config, log, hooks } = this.deps;
    await this.out.checkpoint(async () => undefined);
    await this.out.settle();
    if (this.plan.method === 'FULL_TABLE') {
      if (config.activateVersion) await writer.write({ type: 'ACTIVATE_VERSION', stream: this.plan.stream, version: this.plan.version! });
      // a complete full sync leaves no resume position: the next run starts a new version
      this.bookmark = {};
      this.state.bookmarks[this.id] = this.bookmark;
    }
    await writeState(writer, this.state, 'boundary');
    this.ended = true;
    await hooks
      .streamEnd({ plan: this.plan, rows: this.rows, durationMs: Date.now() - this.started, status: 'succeeded', retries: this.retries })
      .catch((err) => {
        throw isStopSync(err) ? pluginStop(err, this.id) : err;
      });
    log.info(`${this.id}: ${this.rows} records in ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
    return this.rows;
  }

  /** After a failure: what is not durable is dropped, onStreamEnd hears it (once), and the error names the stream. */
  async fail(err: unknown): Promise<unknown> {
    await this.out.abandon().catch(() => undefined);
    // a stop from onStreamEnd after success: the stream ended already, tell no plugin twice
    if (!this.ended) {
      this.ended = true;
      await this.deps.hooks.streamEnd({
        plan: this.plan,
        rows: this.rows,
        durationMs: Date.now() - this.started,
        status: 'failed',
        error: err,
        retries: this.retries,
      });
    }
    return isStopSync(err) ? pluginStop(err, this.id) : err;
  }

  /** A reader's own copy under a new version: ACTIVATE_VERSION after its records, before the STATE that follows. */
  private async activate(version: number): Promise<void> {
    if (!this.deps.config.activateVersion) {
      this.deps.log.warn(
        `${this.id}: activate_version is off, so the target keeps rows the new copy (table version ${version}) does not have`,
      );
      return;
    }
    await this.out.checkpoint(() => this.deps.writer.write({ type: 'ACTIVATE_VERSION', stream: this.plan.stream, version }));
  }
}

/** A plugin's stop, in the plugin's words, with the stream it happened in (STATE is written by then). */
export function pluginStop(err: StopSyncError, id: string): StopSyncError {
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
export function stoppedError(id: string, signal: AbortSignal, when = ''): InterruptedError {
  return new InterruptedError(
    `stopped by ${String(signal.reason ?? 'a signal')} during ${id}${when}; STATE holds what is complete`,
    signal.reason,
  );
}
