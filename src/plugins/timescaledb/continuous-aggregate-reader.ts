import type { ReadBatch, ReadContext, TableReader } from '../../core/readers/table-reader.js';
import type { StreamBookmark } from '../../core/singer/messages.js';
import { bookmarkValue } from '../../core/postgres/value-json.js';
import { quoteIdent, typedLiteral } from '../../core/postgres/sql.js';
import { ConfigurationError } from '../../core/errors.js';
import { compareKeyValues } from './slice-progress.js';
import { continuousAggregateWatermark, type ContinuousAggregateInfo } from './timescale-catalog.js';
import { watermarkValue } from './time-series-defaults.js';

export interface ContinuousAggregateReaderSettings {
  /** the aggregate behind a stream this reader claimed */
  aggregate(ctx: ReadContext): Promise<ContinuousAggregateInfo>;
  /** late_arrival_lookback: when set, the window re-read before the bookmark instead of the policy's start_offset */
  readonly lookback?: string;
}

/**
 * INCREMENTAL on a continuous aggregate's bucket column, read through the view (never the
 * materialization hypertable), so real-time aggregates include their newest, not yet materialized buckets.
 * - A refresh rewrites every bucket in its window [now - start_offset, now - end_offset): the read starts
 *   at `bookmark - start_offset` (or `- late_arrival_lookback`), so the buckets a refresh since the last
 *   run may have rewritten come again. A policy without start_offset refreshes from the beginning: the
 *   whole aggregate is read. A manual refresh of an older window is not seen (docs/continuous-aggregates.md:
 *   FULL_TABLE or LOG_BASED for that).
 * - The bookmark never passes the watermark taken before the read: buckets above it (real-time ones) can
 *   still change, and come again next run until they are materialized.
 * - The window bound is a constant, so TimescaleDB excludes the materialization's older chunks at planning.
 */
export class ContinuousAggregateReader implements TableReader {
  constructor(private readonly settings: ContinuousAggregateReaderSettings) {}

  async *read(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan, log } = ctx;
    const key = plan.replicationKey!;
    const col = plan.columns.find((c) => c.name === key)!;
    const cagg = await this.settings.aggregate(ctx);
    const watermark = watermarkValue(await ctx.pool.use((c) => continuousAggregateWatermark(c, cagg)), cagg.bucketType);
    const saved = ctx.bookmark.replication_key === key ? ctx.bookmark.replication_key_value : undefined;
    const hasSaved = saved !== undefined && saved !== null;
    const window = this.settings.lookback ?? (cagg.policy ? cagg.policy.startOffset : undefined);
    const fromStart = hasSaved && this.settings.lookback === undefined && cagg.policy !== null && cagg.policy.startOffset === null;
    const bound = hasSaved && !fromStart ? await this.lowerBound(ctx, saved, window, col.type.sqlType, cagg) : undefined;
    log.info(
      `${plan.tapStreamId}: continuous aggregate ${hasSaved ? (fromStart ? 'read in full (its refresh policy has no start_offset)' : `read from ${bound}`) : 'read in full (no bookmark)'}; ` +
        `watermark ${watermark === null ? 'none (nothing materialized)' : JSON.stringify(watermark)}`,
    );
    const select = ctx.copy.selectSql(plan, {
      where: bound ? `${quoteIdent(key)} >= ${typedLiteral(bound, col.type.sqlType)}` : undefined,
      orderBy: [key],
      ...(bound ? {} : { orderNullsFirst: true }),
    });
    log.debug(`${plan.tapStreamId}: ${select}`);
    // the bookmark: the largest bucket emitted, never past the watermark, never behind the saved one;
    // with nothing materialized every bucket is computed from the raw rows and can still change: it stays
    const capped = (value: unknown): unknown => {
      if (watermark === null) return hasSaved ? saved : undefined;
      let v = watermark !== null && compareKeyValues(value, watermark) > 0 ? watermark : value;
      if (hasSaved && compareKeyValues(v, saved) < 0) v = saved;
      return v;
    };
    let bookmark: StreamBookmark = { ...ctx.bookmark, replication_key: key };
    const client = await ctx.pool.acquire();
    let failed = true;
    try {
      for await (const batch of ctx.copy.run(client, plan, select, { track: [key] })) {
        const last = batch.last?.[0];
        const value = last !== undefined && last !== 'null' ? capped(bookmarkValue(last)) : undefined;
        if (value !== undefined) bookmark = { ...bookmark, replication_key_value: value };
        yield { ...batch, bookmark };
      }
      failed = false;
    } finally {
      ctx.pool.release(client, failed);
    }
  }

  /** bookmark - window as text of the bucket's type, computed by the server (interval arithmetic, months included). */
  private async lowerBound(
    ctx: ReadContext,
    saved: unknown,
    window: string | null | undefined,
    sqlType: string,
    cagg: ContinuousAggregateInfo,
  ): Promise<string> {
    const value = typeof saved === 'string' ? saved : JSON.stringify(saved);
    const integer = ['smallint', 'integer', 'bigint'].includes(cagg.bucketType);
    if (window === undefined || window === null) return value;
    return ctx.pool.use(async (c) => {
      try {
        const sql = integer
          ? `SELECT ($1::${sqlType} - $2::int8)::${sqlType}::text AS b`
          : `SELECT ($1::${sqlType} - $2::interval)::${sqlType}::text AS b`;
        const { rows } = await c.query<{ b: string }>(sql, [value, window.trim()]);
        return rows[0]!.b;
      } catch (err) {
        throw new ConfigurationError(
          `${ctx.plan.tapStreamId}: cannot subtract the window "${window}" from the bookmark ${value} (${(err as Error).message}): give late_arrival_lookback as ${integer ? "an integer in the bucket column's units" : 'an interval like "2 hours"'}`,
        );
      }
    });
  }
}
