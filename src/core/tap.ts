import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from './container.js';
import type { TapConfig } from './config/tap-config.js';
import { buildCatalog } from './discovery/catalog-builder.js';
import type { Logger } from './logger.js';
import type { ConnectionPool } from './postgres/connection-pool.js';
import { translateQueryError } from './postgres/connection-pool.js';
import type { PluginHooks } from './plugins/plugin-hooks.js';
import type { LoadedPlugin } from './plugins/plugin-loader.js';
import type { CopyRunner } from './readers/copy-runner.js';
import type { ReaderRegistry } from './readers/reader-registry.js';
import { isSelected, type Catalog } from './singer/catalog.js';
import type { MessageWriter } from './singer/message-writer.js';
import type { TapState } from './singer/messages.js';
import { planStreams } from './sync/sync-planner.js';
import { emitState, syncStream } from './sync/stream-sync.js';
import { syncTogether } from './sync/streams-together.js';
import { checkBookmarkValues } from './sync/bookmark-check.js';
import { batchSettingsFrom, checkBatchRoot, type BatchSettings } from './batch/batch-settings.js';
import type { StreamPlan } from './readers/stream-plan.js';
import { shardProblem } from './sync/shard-split.js';
import { ConfigurationError } from './errors.js';
import { raceStop } from './stop-request.js';
import { BatchFileSink, checkBatchFileNames, startBatchThread } from './batch/batch-file-sink.js';
import { removeLeftovers } from './batch/leftover-files.js';
import { StdoutRecordSink } from './batch/record-sink.js';
import type { RecordTransforms } from './records/record-transforms.js';
import { TransformedSink } from './records/transformed-output.js';

/** How long a stop request waits for the read in hand before cutting its connection. */
const STOP_GRACE_MS = 1000;

/** The tap: discovery and sync, over the services in its container. */
export class Tap {
  constructor(private readonly container: DependencyContainer) {}

  get config(): TapConfig {
    return this.container.resolve(TOKENS.Config);
  }
  get log(): Logger {
    return this.container.resolve(TOKENS.Logger);
  }
  get pool(): ConnectionPool {
    return this.container.resolve(TOKENS.Pool);
  }
  private get hooks(): PluginHooks {
    return this.container.resolve(TOKENS.Hooks);
  }
  private get plugins(): LoadedPlugin[] {
    return this.container.resolve(TOKENS.Plugins);
  }

  /** Builds the catalog: the core's view of pg_catalog, then each plugin's enrichment in load order. */
  async discover(): Promise<Catalog> {
    return this.pool.use(async (client) => {
      const started = Date.now();
      let result;
      try {
        result = await buildCatalog(client, this.config);
      } catch (err) {
        throw translateQueryError(err, 'discovery');
      }
      for (const { plugin } of this.plugins) {
        await plugin.enrichCatalog?.(result.catalog, { client, config: this.config, log: this.log, relations: result.relations });
      }
      this.log.info(`discovered ${result.catalog.streams.length} streams in ${Date.now() - started} ms`);
      return result.catalog;
    });
  }

  /** True once a message is on stdout: from then on a stop request is graceful (the batch, then STATE). */
  get outputStarted(): boolean {
    return this.container.resolve<MessageWriter>(TOKENS.Writer).bytesWritten > 0;
  }

  /** Stops stdout without cutting a line (see MessageWriter.seal); settles when the exit may happen. */
  sealOutput(reason: Error): Promise<void> {
    return this.container.resolve<MessageWriter>(TOKENS.Writer).seal(reason);
  }

  /** Everything checked before the first message: the BATCH root, the catalog against the database, every bookmark. */
  private async checksBeforeOutput(catalog: Catalog, state: TapState, batch: BatchSettings | undefined): Promise<StreamPlan[]> {
    // batch_config: a root the tap cannot write to stops it (exit 2) before any message
    if (batch) await checkBatchRoot(batch);
    const selected = catalog.streams.filter(isSelected);
    const known = new Set(catalog.streams.map((s) => s.tap_stream_id));
    const orphans = Object.keys(state.bookmarks).filter((id) => !known.has(id));
    if (orphans.length > 0)
      this.log.warn(`the state has bookmarks for streams not in the catalog (kept as they are): ${orphans.join(', ')}`);
    if (state.currently_syncing && !selected.some((s) => s.tap_stream_id === state.currently_syncing)) {
      if (!known.has(state.currently_syncing))
        this.log.warn(`the state's currently_syncing ${state.currently_syncing} is not in the catalog`);
    }
    if (selected.length === 0) {
      this.log.warn('no stream is selected in the catalog: mark streams with "selected": true in their metadata at breadcrumb []');
    }
    this.container.register(TOKENS.InitialState, { useValue: structuredClone(state) });
    const records = this.container.resolve<RecordTransforms>(TOKENS.Records);
    // readers of changes attach each record's operation and position where a transform or a skip needs them
    const plans = (await this.pool.use((client) => planStreams(client, selected))).map((p) => records.annotate(p));
    records.check(plans, state.bookmarks);
    for (const plan of plans) {
      if (plan.relation.rowSecurity) {
        this.log.warn(
          `${plan.tapStreamId}: row-level security applies to this role on "${plan.relation.schema}"."${plan.relation.name}": only the rows its policies show are read (use a role with BYPASSRLS, or the table owner, for every row)`,
        );
      }
    }
    // every stream's bookmark is checked before the first message, not when the stream's turn comes
    // (a bad value in the third stream's bookmark exited 4 after two streams had been written)
    for (const plan of plans) {
      const b = state.bookmarks[plan.tapStreamId] ?? {};
      const otherKey = plan.method === 'INCREMENTAL' && b.replication_key && b.replication_key !== plan.replicationKey;
      if (!otherKey) await checkBookmarkValues(this.pool, plan, b);
    }
    const readers = this.container.resolve<ReaderRegistry>(TOKENS.Readers);
    // shard_count above 1: every stream that cannot be split is named at once, before the server's own checks
    const shard = this.config.shard;
    if (shard) {
      const problems: string[] = [];
      for (const plan of plans) {
        const problem = shardProblem(plan, await readers.choose(plan), shard);
        if (problem) problems.push(problem);
      }
      if (problems.length > 0) throw new ConfigurationError(`shard_count ${shard.count}: ${problems.join('; ')}`);
    }
    // the strategies' own checks of every stream (LOG_BASED: the server's setup, the slot, the state's positions)
    for (const plan of plans) {
      const strategy = await readers.choose(plan);
      // on the plan as it will be read: wrappers' shapes (filters, computed columns) included
      if (strategy.preflight) await strategy.preflight(strategy.prepare ? await strategy.prepare(plan) : plan, strategy.name);
    }
    if (batch) {
      const ids = plans.map((p) => p.tapStreamId);
      // a prefix that makes a stream's file names longer than a file system takes
      checkBatchFileNames(batch, ids);
      // the unfinished files of a killed run: never named by a BATCH, their rows are read again
      await removeLeftovers(batch, ids, this.log);
    }
    return plans;
  }

  /** Syncs the selected streams, starting with the one the state says was interrupted. */
  async sync(catalog: Catalog, state: TapState, signal: AbortSignal): Promise<void> {
    const writer = this.container.resolve<MessageWriter>(TOKENS.Writer);
    const batch = batchSettingsFrom(this.config.raw);
    if (batch) startBatchThread(batch);
    // nothing is on stdout yet: a stop request ends these checks at once (a hung mount, a server that does
    // not answer), and the connections in use are cut so that the exit does not wait for them
    const plans = await raceStop(this.checksBeforeOutput(catalog, state, batch), signal, 'during the checks before the sync').catch(
      (err: unknown) => {
        if (signal.aborted) this.pool.interrupt();
        throw err;
      },
    );
    const first = plans.findIndex((p) => p.tapStreamId === state.currently_syncing);
    const ordered = first > 0 ? [...plans.slice(first), ...plans.slice(0, first)] : plans;
    const deps = {
      writer,
      readers: this.container.resolve<ReaderRegistry>(TOKENS.Readers),
      copy: this.container.resolve<CopyRunner>(TOKENS.CopyRunner),
      pool: this.pool,
      config: this.config,
      log: this.log,
      hooks: this.hooks,
      signal,
      sink: new TransformedSink(
        batch ? new BatchFileSink(writer, batch, this.log) : new StdoutRecordSink(writer, this.config.stateEveryNRows),
        this.container.resolve<RecordTransforms>(TOKENS.Records),
        this.log,
      ),
    };
    let status: 'succeeded' | 'failed' = 'failed';
    let error: unknown;
    // a stop request lets the batch in hand finish; a read still blocked (on a lock, a long statement)
    // after the grace period has its connection cut, so the tap stops now, not at lock_timeout
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      grace = setTimeout(() => this.pool.interrupt(), STOP_GRACE_MS);
      grace.unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let hookFailure: unknown;
    try {
      for (const group of await passes(ordered, deps.readers)) {
        if (group.length === 1) await syncStream(group[0]!, state, deps);
        else await syncTogether(group, state, deps);
      }
      state.currently_syncing = null;
      await emitState(writer, state);
      status = 'succeeded';
    } catch (err) {
      error = err;
      throw err;
    } finally {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
      // a plugin failing in onSyncEnd (after a success) fails the run, but only after the output is flushed
      hookFailure = await this.hooks.syncEnd({ status, error, bytesWritten: writer.bytesWritten }).then(
        () => undefined,
        (e: unknown) => e,
      );
      // what was written (the STATE of what is complete, on failure too) must reach the target before exit
      await writer.end().catch((err) => {
        if (status === 'succeeded') throw err;
      });
    }
    // reached only after a success: a failed sync's own error is the one reported
    if (hookFailure !== undefined) throw hookFailure;
  }
}

/**
 * The streams in sync order, those whose strategies read in one pass (ReaderStrategy.readsTogether)
 * together, at the place of the first of them.
 */
async function passes(plans: readonly StreamPlan[], readers: ReaderRegistry): Promise<StreamPlan[][]> {
  const groups: StreamPlan[][] = [];
  const byKey = new Map<string, StreamPlan[]>();
  for (const plan of plans) {
    const key = (await readers.choose(plan)).readsTogether;
    const group = key === undefined ? undefined : byKey.get(key);
    if (group) {
      group.push(plan);
      continue;
    }
    const created = [plan];
    if (key !== undefined) byKey.set(key, created);
    groups.push(created);
  }
  return groups;
}
