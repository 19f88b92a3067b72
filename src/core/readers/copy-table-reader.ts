import type { StreamBookmark } from '../singer/messages.js';
import { quoteIdent, quoteLiteral, typedLiteral } from '../postgres/sql.js';
import { bookmarkValue } from '../postgres/value-json.js';
import type { ReadBatch, ReadContext, ReaderStrategy, TableReader } from './table-reader.js';
import type { StreamPlan } from './stream-plan.js';
import type { SelectParts } from './copy-runner.js';
import { choosePageSlices, openReadAhead, readPageSlices } from './page-slices.js';

/**
 * The default reader: one `COPY (SELECT …) TO STDOUT` per stream.
 * - INCREMENTAL: `WHERE key >= bookmark ORDER BY key` (>=, so rows sharing the last key value are never lost;
 *   on the first run NULLS FIRST, and a NULL key never becomes the bookmark).
 * - FULL_TABLE with a primary key (and full_table_order_by_key): resumable. In key order after
 *   `last_pk_fetched` where the key's index follows the physical order; in page ranges otherwise
 *   (page-slices.ts: an ORDER BY there costs a sort or a random-access index scan; the next range is read
 *   ahead on a second connection in the same snapshot, chunk_prefetch). Without a key, a
 *   single unordered read that a resumed run starts again.
 */
export class CopyTableReader implements TableReader {
  async *read(ctx: ReadContext): AsyncIterable<ReadBatch> {
    const { plan } = ctx;
    const q = plan.method === 'INCREMENTAL' ? incrementalQuery(plan, ctx.bookmark) : fullTableQuery(ctx, plan);
    const select = ctx.copy.selectSql(plan, q.parts);
    let bookmark = ctx.bookmark;
    const client = await ctx.pool.acquire();
    let failed = true;
    try {
      const choice = q.track.length > 0 && plan.method === 'FULL_TABLE' ? await choosePageSlices(client, ctx) : undefined;
      if (choice) ctx.log.debug(`${plan.tapStreamId}: ${choice.slices ? 'page ranges' : 'key order'}: ${choice.reason}`);
      // page ranges need one snapshot for all their statements; an exported one is imported first
      if (ctx.snapshot || choice?.slices) await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (ctx.snapshot) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(ctx.snapshot)}`);
      if (choice?.slices) {
        const ahead = await openReadAhead(client, ctx);
        let aheadFailed = true;
        try {
          yield* readPageSlices(ahead ? [client, ahead] : [client], ctx);
          await ahead?.query('COMMIT');
          aheadFailed = false;
        } finally {
          if (ahead) ctx.pool.release(ahead, aheadFailed);
        }
      } else {
        ctx.log.debug(`${plan.tapStreamId}: ${select}`);
        for await (const batch of ctx.copy.run(client, plan, select, { track: q.track })) {
          bookmark = q.advance(bookmark, batch.last);
          yield { ...batch, bookmark };
        }
      }
      if (ctx.snapshot || choice?.slices) await client.query('COMMIT');
      failed = false;
    } finally {
      ctx.pool.release(client, failed);
    }
  }
}

interface Query {
  parts: SelectParts;
  track: string[];
  advance(bookmark: StreamBookmark, last: readonly string[] | undefined): StreamBookmark;
}

function incrementalQuery(plan: StreamPlan, bookmark: StreamBookmark): Query {
  const key = plan.replicationKey!;
  const col = plan.columns.find((c) => c.name === key)!;
  const start = bookmark.replication_key === key ? bookmark.replication_key_value : undefined;
  const hasStart = start !== undefined && start !== null;
  return {
    parts: {
      where: hasStart ? `${quoteIdent(key)} >= ${typedLiteral(start, col.type.sqlType)}` : undefined,
      orderBy: [key],
      ...(hasStart ? {} : { orderNullsFirst: true }),
    },
    track: [key],
    advance(b, last) {
      const value = last?.[0];
      if (value === undefined || value === 'null') return { ...b, replication_key: key };
      return { ...b, replication_key: key, replication_key_value: bookmarkValue(value) };
    },
  };
}

function fullTableQuery(ctx: ReadContext, plan: StreamPlan): Query {
  const keys = plan.keyProperties;
  const selected = new Set(plan.columns.map((c) => c.name));
  const ordered = ctx.config.fullTableOrderByKey && keys.length > 0 && keys.every((k) => selected.has(k)) && plan.relation.relkind !== 'v';
  if (!ordered) return { parts: {}, track: [], advance: (b) => b };
  const last = ctx.bookmark.last_pk_fetched;
  const resume = last && keys.every((k) => k in last);
  const literal = (k: string): string => typedLiteral(last![k], plan.columns.find((c) => c.name === k)!.type.sqlType);
  return {
    parts: {
      where: resume ? `(${keys.map(quoteIdent).join(', ')}) > (${keys.map(literal).join(', ')})` : undefined,
      orderBy: keys,
    },
    track: [...keys],
    advance(b, values) {
      if (!values) return b;
      return { ...b, last_pk_fetched: Object.fromEntries(keys.map((k, i) => [k, bookmarkValue(values[i]!)])) };
    },
  };
}

/** The default strategy: claims every stream, at the lowest precedence. */
export const copyTableStrategy: ReaderStrategy = {
  name: 'copy-table',
  precedence: 0,
  claims: () => true,
  shapes: ['where', 'columns'],
  reader: new CopyTableReader(),
};
