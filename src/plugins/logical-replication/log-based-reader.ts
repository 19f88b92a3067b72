import { StateError } from '../../core/errors.js';
import type { ReaderRegistry } from '../../core/readers/reader-registry.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { ReadBatch, ReadContext, TableReader } from '../../core/readers/table-reader.js';
import type { StreamBookmark } from '../../core/singer/messages.js';
import { SDC_DELETED_AT, SDC_LSN, withCopyLsn } from './change-columns.js';
import { readChanges, type ChangePosition } from './change-reader.js';
import { bookmarkLsn, formatLsn } from './lsn.js';
import type { RelationMap } from './relation-map.js';
import type { ReplicationService } from './replication-service.js';
import { exportSnapshot } from './snapshot-slot.js';
import { ChangeFeed } from './change-feed.js';

export interface LogBasedReaderDeps {
  readonly service: ReplicationService;
  readonly relations: RelationMap;
  /** the registry, to find the reader of the initial copy (the chunk reader for a hypertable) */
  registry(): ReaderRegistry;
}

/**
 * LOG_BASED: a first run copies the stream in a replication slot's exported snapshot through the reader
 * that would read it FULL_TABLE, under a new table version that it activates at the copy's end
 * (ACTIVATE_VERSION), and bookmarks the slot's consistent point; later runs emit the changes committed
 * since the bookmark, up to the WAL position at the run's start, in commit order. The bookmark `lsn` is
 * the end of the last transaction emitted in full; within a large transaction `tx`/`tx_changes` count
 * the changes of it already emitted, so a resumed read repeats none of them.
 *
 * Where records cannot make the target equal to the source (a TRUNCATE, a column added, renamed or
 * retyped, rows written compressed directly, a catalog column the target never received), the stream
 * is copied again under a new version in the same run: ACTIVATE_VERSION then removes what the target
 * holds and the copy does not.
 */
export class LogBasedReader implements TableReader {
  private readonly feeds = new WeakMap<object, ChangeFeed>();

  constructor(private readonly deps: LogBasedReaderDeps) {}

  async *read(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan, bookmark } = ctx;
    // every read of the pass attaches to its decode or leaves it, once, before the decode can start
    const feed = this.feed(ctx);
    let joined = false;
    const leave = (): void => {
      if (!joined) feed.leave(plan.tapStreamId);
      joined = true;
    };
    try {
      let from: bigint | undefined;
      try {
        from = bookmarkLsn(bookmark.lsn);
      } catch (err) {
        throw new StateError(
          `the state's bookmark for ${plan.tapStreamId} has ${(err as Error).message}: remove the bookmark to make a new initial copy`,
        );
      }
      const unwatched = await this.deps.service.prepare(plan, from === undefined);
      if (from === undefined) {
        leave();
        return yield* this.copy(ctx);
      }
      if (unwatched) {
        leave();
        const slot = this.deps.service.watchSlot;
        return yield* this.copyAgain(
          ctx,
          `its hypertable is compressed and replication slot ${slot} is new, so whole batches deleted directly since the last run cannot be seen`,
        );
      }
      const added = newColumns(plan, bookmark);
      if (added) {
        leave();
        return yield* this.copyAgain(ctx, `${added}, which its changes cannot fill in`);
      }
      const position = await this.position(ctx, from);
      const batches = await this.deps.service.directBatchDeletes(plan, from, this.deps.relations);
      if (batches.length > 0) {
        leave();
        return yield* this.copyAgain(
          ctx,
          `whole compressed batches were deleted directly (timescaledb.enable_compressed_direct_batch_delete = on in a writer's session) in ${batches.join(', ')}, and pgoutput sends no rows for them`,
        );
      }
      const upto = await this.deps.service.upto();
      if (upto <= from) return leave();
      joined = true;
      const changes = feed.attach(plan, from);
      // change records carry no version: a target keeps what they set until a copy under a newer version
      // is activated, and then drops whatever that copy did not have
      const version = typeof bookmark.version === 'number' ? bookmark.version : undefined;
      const end = yield* readChanges(ctx, changes, upto, this.deps.relations, position, (lsn, tx) =>
        changeBookmark(plan, lsn, version, tx),
      );
      if (end.recopy) yield* this.copyAgain(ctx, end.recopy);
    } finally {
      leave();
    }
  }

  /**
   * The decode this read takes its changes from: one per pass (every LOG_BASED stream of the run reads the
   * slot's range once, together), or its own when it is read alone.
   */
  private feed(ctx: ReadContext): ChangeFeed {
    const key: object = ctx.pass ?? ctx;
    let feed = this.feeds.get(key);
    if (!feed) {
      const { service } = this.deps;
      // alone, the read ends the decode by leaving it (a stop request lets the batch in hand finish first)
      const signal = ctx.pass?.signal ?? new AbortController().signal;
      feed = new ChangeFeed(
        ctx.pass?.streams ?? [ctx.plan.tapStreamId],
        this.deps.relations,
        () => service.changes(ctx.config.connection, signal),
        signal,
      );
      this.feeds.set(key, feed);
    }
    return feed;
  }

  /** Where records cannot make the target equal to the source: a copy under a new version, and why. */
  private async *copyAgain(ctx: ReadContext, why: string): AsyncIterable<ReadBatch> {
    ctx.log.warn(`${ctx.plan.tapStreamId}: ${why}: the stream is copied again under a new table version (ACTIVATE_VERSION)`);
    yield* this.copy(ctx);
  }

  /** Where the changes start: the bookmark, checked against what the slot may still hold. */
  private async position(ctx: ReadContext, from: bigint): Promise<ChangePosition> {
    const { service } = this.deps;
    const confirmed = await service.confirm();
    // checked before any output too (ReplicationService.preflight); the slot may have moved since
    if (from < confirmed) throw service.behindSlot(ctx.plan, from, confirmed);
    const tx = ctx.bookmark.tx === undefined ? undefined : bookmarkLsn(ctx.bookmark.tx);
    const skip = Number(ctx.bookmark.tx_changes ?? 0);
    return { from, tx, skip: Number.isSafeInteger(skip) && skip > 0 ? skip : 0 };
  }

  /**
   * A copy in a new slot snapshot under a new version, activated before its first record (as a FULL_TABLE
   * sync does) and after its last, whose batch bookmarks the snapshot's LSN.
   */
  private async *copy(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan, log } = ctx;
    // the wrappers around this strategy see the copy's rows as its own: the inner reader is not wrapped again
    const strategy = await this.deps.registry().chooseUnwrapped({ ...plan, method: 'FULL_TABLE' });
    const previous = typeof ctx.bookmark.version === 'number' ? ctx.bookmark.version : 0;
    const version = Math.max(Date.now(), previous + 1);
    let complete = false;
    const exported = await exportSnapshot(ctx.config.connection).catch(async (err: unknown) => {
      await this.deps.service.dropUnused();
      throw err;
    });
    try {
      // as a FULL_TABLE sync starts a version: the target knows it before the first record carries it
      yield { bytes: Buffer.alloc(0), rows: 0, bookmark: {}, activateVersion: version };
      const copyPlan = withCopyLsn({ ...plan, version }, exported.lsn);
      const inner = strategy.prepare ? await strategy.prepare(copyPlan) : copyPlan;
      log.info(
        `${plan.tapStreamId}: ${ctx.bookmark.lsn === undefined ? 'initial copy' : 'copy again'} with reader ${strategy.name} in the snapshot of ${formatLsn(exported.lsn)}, table version ${version}`,
      );
      // an interrupted copy cannot resume in a snapshot that is gone: its bookmark stays empty, and a rerun copies again
      for await (const batch of strategy.reader.read({ ...ctx, plan: inner, bookmark: {}, snapshot: exported.snapshot })) {
        yield { ...batch, bookmark: {} };
      }
      complete = true;
    } finally {
      await exported.close();
      // a first run stopped before its position reached a bookmark (a failure, a plugin's stop, a signal)
      if (!complete) await this.deps.service.dropUnused();
    }
    this.deps.service.markUsed();
    yield {
      bytes: Buffer.alloc(0),
      rows: 0,
      bookmark: changeBookmark(plan, exported.lsn, version),
      checkpoint: true,
      activateVersion: version,
    };
  }
}

/** The bookmark of a LOG_BASED stream: where its changes resume, its table version, and the columns (with types) its records carry. */
function changeBookmark(plan: StreamPlan, lsn: bigint, version?: number, tx?: { commit: bigint; changes: number }): StreamBookmark {
  return {
    lsn: Number(lsn),
    ...(version === undefined ? {} : { version }),
    ...(tx && tx.changes > 0 ? { tx: Number(tx.commit), tx_changes: tx.changes } : {}),
    columns: Object.fromEntries(ownColumns(plan).map((c) => [c.name, c.type.sqlType])),
  };
}

function ownColumns(plan: StreamPlan): StreamPlan['columns'] {
  return plan.columns.filter((c) => !c.computed && c.name !== SDC_LSN && c.name !== SDC_DELETED_AT);
}

/**
 * The catalog's columns that the target has not received from this stream (added to the table or the
 * selection since the last run, or retyped): rows it holds lack them, which changes cannot fill in.
 * A bookmark without `columns` (written before they were kept) is taken as matching.
 */
function newColumns(plan: StreamPlan, bookmark: StreamBookmark): string | undefined {
  const had = bookmark.columns;
  if (typeof had !== 'object' || had === null || Array.isArray(had)) return undefined;
  const types = had as Record<string, unknown>;
  const added = ownColumns(plan).filter((c) => !(c.name in types));
  const retyped = ownColumns(plan).filter((c) => c.name in types && types[c.name] !== c.type.sqlType);
  if (added.length === 0 && retyped.length === 0) return undefined;
  const parts = [
    added.length > 0 ? `column(s) ${added.map((c) => c.name).join(', ')} are not in the records of earlier runs` : '',
    retyped.length > 0
      ? `column(s) ${retyped.map((c) => `${c.name} (${String(types[c.name])} -> ${c.type.sqlType})`).join(', ')} changed type`
      : '',
  ];
  return parts.filter(Boolean).join('; ');
}
