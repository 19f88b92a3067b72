import type pg from 'pg';
import type { StreamBookmark } from '../singer/messages.js';
import { quoteLiteral } from '../postgres/sql.js';
import { translateQueryError } from '../postgres/connection-pool.js';
import { embeddedEngine } from '../postgres/pg-catalog.js';
import type { ReadBatch, ReadContext } from './table-reader.js';
import { readAhead } from './read-ahead.js';
import { describeSample, sampleKeyOrder } from './key-order-sample.js';

/**
 * Where a FULL_TABLE read in page ranges stands (the bookmark's `pages`): every page before
 * `done_before` was read, in a snapshot whose oldest running transaction was `xmin`, from the
 * table's file `relfilenode`.
 */
export interface PagesBookmark {
  readonly done_before: number;
  readonly relfilenode: number;
  readonly xmin: number;
}

/**
 * How many bytes of RECORD batches the range read ahead may hold before its COPY is paused (then its
 * socket fills and the server waits): as for chunks, one 1 MB batch and what the socket holds.
 */
const READ_AHEAD_BYTES = 2 * 1024 * 1024;

/** The smallest page range: 8 MB of an 8 kB-page table. */
const MIN_PAGES = 1024;

/** An index whose order is at least this close to the table's physical order is read in key order. */
export const CORRELATED = 0.9;

/** Why (or why not) a keyed FULL_TABLE stream is read in page ranges. */
export interface SliceChoice {
  readonly slices: boolean;
  readonly reason: string;
}

/**
 * Page ranges instead of key order, where key order costs a sort or a random-access index scan: the
 * key's leading column is poorly correlated with the physical order (pg_stats after ANALYZE; a sample
 * of the table where it was never analyzed, key-order-sample.ts), the relation is a plain table without inheritance children, and the server has TID Range Scan (PG 14+,
 * https://www.postgresql.org/docs/14/release-14.html: `ctid` ranges read only those pages). A
 * bookmark already in page ranges continues in them; an old `last_pk_fetched` continues in key order.
 */
export async function choosePageSlices(client: pg.PoolClient, ctx: ReadContext): Promise<SliceChoice> {
  const { plan, bookmark } = ctx;
  if (bookmark.last_pk_fetched) return { slices: false, reason: 'resuming after last_pk_fetched' };
  if (plan.relation.relkind !== 'r') return { slices: false, reason: 'not a plain table' };
  const { rows } = await client.query<{ version: number; children: boolean; correlation: number | null }>(
    `SELECT current_setting('server_version_num')::int AS version,
            (SELECT c.relhassubclass FROM pg_catalog.pg_class c WHERE c.oid = $1::oid) AS children,
            (SELECT s.correlation::float8 FROM pg_catalog.pg_stats s
              WHERE s.schemaname = $2 AND s.tablename = $3 AND s.attname = $4 AND NOT s.inherited) AS correlation`,
    [plan.relation.oid, plan.relation.schema, plan.relation.name, plan.keyProperties[0]],
  );
  const { version, children, correlation } = rows[0]!;
  if (version < 140000) return { slices: false, reason: 'no TID Range Scan before PostgreSQL 14' };
  if (children) return { slices: false, reason: 'the table has inheritance children' };
  if (bookmark.pages) return { slices: true, reason: 'resuming a read in page ranges' };
  if (correlation === null) {
    // ctid needs SELECT on the table: a role granted only columns reads in key order, as before the sample
    const sample = await sampleKeyOrder(client, plan).catch((err: Error) => err);
    if (sample instanceof Error)
      return { slices: false, reason: `no statistics on the key, and no sample of the table (${sample.message})` };
    const said = `no statistics on the key (never analyzed): ${describeSample(sample)}`;
    if (sample.correlation === null) return { slices: false, reason: said };
    return choiceBy(sample.correlation, said);
  }
  return choiceBy(correlation, `correlation ${correlation.toFixed(2)}`);
}

function choiceBy(correlation: number, said: string): SliceChoice {
  if (Math.abs(correlation) >= CORRELATED) return { slices: false, reason: `the key follows the physical order (${said})` };
  return { slices: true, reason: `the key is scattered over the pages (${said})` };
}

/**
 * Reads the table in ranges of pages (`ctid >= '(p,0)' AND ctid < '(q,0)'`), unordered, inside the
 * transaction `clients[0]` is in (one snapshot for the whole table), with STATE after each range. With a
 * second client in the same snapshot (openReadAhead), the next range's COPY runs on it while the current
 * range is written: the output, its order and every bookmark are the same as with one.
 *
 * At least once after a kill: the next run has a new snapshot, and a row can only have left the pages
 * not yet read for the ones already read by an UPDATE (its new version has a newer xmin) or by a
 * rewrite (VACUUM FULL, CLUSTER, TRUNCATE: a new relfilenode). So a resumed run first reads, from the
 * pages already done, the rows written since the first run's snapshot (`age(xmin) <= age(bookmark's
 * xmin)`, which the server filters while scanning those pages), then the remaining pages; after a
 * rewrite it starts again. The ranges are about `state_every_n_rows` rows each, and at least
 * MIN_PAGES: that bounds the duplicates of a kill.
 */
export async function* readPageSlices(clients: readonly pg.PoolClient[], ctx: ReadContext): AsyncGenerator<ReadBatch> {
  const { plan, log } = ctx;
  const { rows } = await clients[0]!.query<{ filenode: number; pages: number; xmin: number; per_page: number; known: boolean }>(
    `SELECT pg_catalog.pg_relation_filenode(c.oid)::int8::float8 AS filenode,
            (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int)::float8 AS pages,
            (pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot()) % 4294967296)::float8 AS xmin,
            CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages ELSE 100 END::float8 AS per_page,
            (c.relpages > 0 AND c.reltuples > 0) AS known
       FROM pg_catalog.pg_class c WHERE c.oid = $1::oid`,
    [plan.relation.oid],
  );
  const now = rows[0]!;
  let from: PagesBookmark = { done_before: 0, relfilenode: now.filenode, xmin: now.xmin };
  const previous = ctx.bookmark.pages as PagesBookmark | undefined;
  if (previous && previous.relfilenode === now.filenode) from = previous;
  else if (previous)
    log.warn(
      `${plan.tapStreamId}: the table was rewritten (VACUUM FULL, CLUSTER or TRUNCATE) since the last run: reading it from the start`,
    );
  // about state_every_n_rows rows, but at least 8 MB: each range is a statement (~0.35 ms measured), and
  // between two the server waits for the tap and the tap for the server's first rows; on a loaded
  // machine that wait grows with the scheduler's latency (with 2 MB ranges, 4 of 6 alternated runs were
  // slower than one COPY there). Read ahead hides most of it (the waits at 31 boundaries of a 2M-row read:
  // ~110 ms instead of ~360 ms, busy machine), and 4096-page ranges were then no faster than these (7
  // alternated runs, same median): the smaller ranges stay, for fewer duplicates after a kill
  const step = Math.max(MIN_PAGES, Math.ceil(ctx.config.stateEveryNRows / Math.max(1, now.per_page)));
  const bookmarkAt = (done_before: number): StreamBookmark => {
    const { last_pk_fetched: _unused, ...rest } = ctx.bookmark;
    return { ...rest, pages: { ...from, done_before } };
  };
  const ranges: Range[] = [];
  if (from.done_before > 0) {
    // rows that moved (UPDATE) into the pages the last run had read, after its snapshot
    const since = `pg_catalog.age(xmin) <= pg_catalog.age(${quoteLiteral(String(from.xmin))}::xid)`;
    ranges.push({ where: `ctid < ${tid(from.done_before)} AND ${since}`, bookmark: bookmarkAt(from.done_before) });
  }
  for (let p = from.done_before; ; p += step) {
    // the last range is open-ended: pages the table grew by hold no row of this snapshot, but cost nothing
    const last = p + step >= now.pages;
    const where = last ? `ctid >= ${tid(p)}` : `ctid >= ${tid(p)} AND ctid < ${tid(p + step)}`;
    ranges.push({ where, bookmark: bookmarkAt(p), checkpoint: last ? undefined : bookmarkAt(p + step) });
    if (last) break;
  }
  log.debug(describeRanges(plan.tapStreamId, now, from.done_before, step, ranges.length));
  // range i runs on client i % 2 (of two): the read ahead starts range i + 2 only once range i has ended
  const jobs = ranges.map((r, i) => () => readRange(clients[i % clients.length]!, ctx, r));
  if (clients.length > 1) yield* readAhead(jobs, { sizeOf: (b) => b.bytes.length, maxBuffered: READ_AHEAD_BYTES });
  else for (const job of jobs) yield* job();
}

/**
 * The DEBUG log's words for the ranges a read is cut into, so that two reads (a table analyzed and the
 * same rows without statistics, say) can be compared: how many statements, how many pages each, and the
 * rows a page that sized them (pg_class's reltuples / relpages, or the guess where the table was never
 * vacuumed or analyzed).
 */
function describeRanges(
  stream: string,
  table: { readonly pages: number; readonly per_page: number; readonly known: boolean },
  doneBefore: number,
  step: number,
  count: number,
): string {
  const perPage = table.known
    ? `${table.per_page.toFixed(1)} rows a page (pg_class)`
    : `${table.per_page} rows a page assumed (never vacuumed or analyzed)`;
  const resumed = doneBefore > 0 ? `, resumed at page ${doneBefore} after a pass over the pages done for rows updated since` : '';
  return `${stream}: ${count} COPY statements, page ranges of ${step} pages over ${table.pages} pages, ${perPage}${resumed}`;
}

/** One statement's rows: its WHERE, the bookmark its rows carry, and the one after it (STATE at once), if any. */
interface Range {
  readonly where: string;
  readonly bookmark: StreamBookmark;
  readonly checkpoint?: StreamBookmark;
}

function tid(page: number): string {
  return `'(${page},0)'::tid`;
}

async function* readRange(client: pg.PoolClient, ctx: ReadContext, range: Range): AsyncGenerator<ReadBatch> {
  const select = ctx.copy.selectSql(ctx.plan, { where: range.where });
  for await (const batch of ctx.copy.run(client, ctx.plan, select)) yield { ...batch, bookmark: range.bookmark };
  if (range.checkpoint) yield { bytes: Buffer.alloc(0), rows: 0, bookmark: range.checkpoint, checkpoint: true };
}

/**
 * chunk_prefetch for page ranges: a second connection whose REPEATABLE READ transaction imports the
 * snapshot of `client`'s (pg_export_snapshot, or the one `ctx.snapshot` already names), so both read
 * the table as of one moment: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION
 * `client` must be in its REPEATABLE READ transaction, before its first query of the table. Returns
 * undefined where there is no read ahead (chunk_prefetch false, the embedded engine, no second connection
 * to be had: a warning). Both transactions
 * wait idle while the other connection's range is written: a server-wide idle timeout must not end them.
 * The caller ends the transaction and releases the connection.
 */
export async function openReadAhead(client: pg.PoolClient, ctx: ReadContext): Promise<pg.PoolClient | undefined> {
  if (!ctx.config.prefetch || (await embeddedEngine(client))) return undefined;
  const doing = `${ctx.plan.tapStreamId}: exporting the snapshot for the page range read ahead (chunk_prefetch: false reads with one connection)`;
  let id = ctx.snapshot;
  try {
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    id ??= (await client.query<{ id: string }>('SELECT pg_catalog.pg_export_snapshot() AS id')).rows[0]!.id;
  } catch (err) {
    throw translateQueryError(err, doing);
  }
  // the two reading connections, and one beside them for a plugin hook's queries
  ctx.pool.ensureCapacity(3);
  let ahead: pg.PoolClient | undefined;
  try {
    ahead = await ctx.pool.acquire();
    await ahead.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await ahead.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(id)}`);
    await ahead.query('SET LOCAL idle_in_transaction_session_timeout = 0');
  } catch (err) {
    // a server or role at its connection limit: the ranges are read one after another, as without it
    if (ahead) ctx.pool.release(ahead, true);
    ctx.log.warn(
      `${ctx.plan.tapStreamId}: no second connection to read the next page range ahead (${(err as Error).message}): reading them on one`,
    );
    return undefined;
  }
  ctx.log.info(`${ctx.plan.tapStreamId}: reading the next page range ahead on a second connection (chunk_prefetch)`);
  return ahead;
}
