import type pg from 'pg';
import { translateQueryError } from '../postgres/connection-pool.js';
import { qualifiedName, quoteIdent } from '../postgres/sql.js';
import type { StreamPlan } from './stream-plan.js';

/** Pages sampled, evenly spaced over the table's file. */
export const SAMPLE_PAGES = 64;
/** Line pointers read on each sampled page (the first ones: every page of a table holds at least one). */
const ROWS_PER_PAGE = 8;

/** What a sample of the table says about its key's order against the physical order. */
export interface KeyOrderSample {
  /** the table's size in pages, and how many of them were sampled */
  readonly pages: number;
  readonly sampledPages: number;
  /** rows found at the sampled TIDs */
  readonly rows: number;
  /**
   * Spearman's correlation of the key's first column with the rows' physical position, as pg_stats.correlation
   * would say after ANALYZE (-1 to 1); null when the sample cannot tell (fewer than two rows, one value)
   */
  readonly correlation: number | null;
}

/**
 * Samples a table the server holds no statistics on (never analyzed: after a restore, a bulk load, a
 * statistics reset), so that its FULL_TABLE read order is chosen from the table itself and not from a
 * missing pg_stats row: the first rows of SAMPLE_PAGES pages spread evenly over its file, fetched by TID
 * (`ctid = ANY(…)`: a TID Scan reads only those pages, a few hundred rows, whatever the table's size), then
 * the rank of the key's first column against the rank of the row's position. The tap is read-only, so it
 * cannot ANALYZE. Runs on the reading connection before the read's transaction begins.
 */
export async function sampleKeyOrder(client: pg.PoolClient, plan: StreamPlan): Promise<KeyOrderSample> {
  try {
    const { rows } = await client.query<{ pages: number; sampled_pages: number; rows: number; correlation: number | null }>(
      keyOrderSampleSql(plan.relation, plan.keyProperties[0]!),
      [plan.relation.oid],
    );
    const r = rows[0]!;
    return { pages: r.pages, sampledPages: r.sampled_pages, rows: r.rows, correlation: r.correlation };
  } catch (err) {
    throw translateQueryError(err, `${plan.tapStreamId}: sampling the key's order against the physical order`);
  }
}

/** The sample's query: $1 is the table's oid. */
export function keyOrderSampleSql(relation: { readonly schema: string; readonly name: string }, keyColumn: string): string {
  const key = quoteIdent(keyColumn);
  return `
    WITH size AS (SELECT (pg_catalog.pg_relation_size($1::oid) / current_setting('block_size')::int)::int8 AS pages),
         tids AS (SELECT DISTINCT pg_catalog.format('(%s,%s)', (i * size.pages / ${SAMPLE_PAGES}), o)::tid AS tid, i * size.pages / ${SAMPLE_PAGES} AS page
                    FROM size, generate_series(0, ${SAMPLE_PAGES - 1}) i, generate_series(1, ${ROWS_PER_PAGE}) o WHERE size.pages > 0)
    SELECT (SELECT pages FROM size)::float8 AS pages, (SELECT count(DISTINCT page) FROM tids)::int AS sampled_pages,
           count(*)::int AS rows, pg_catalog.corr(s.position, s.key_rank)::float8 AS correlation
      FROM (SELECT row_number() OVER (ORDER BY t.ctid)::float8 AS position, rank() OVER (ORDER BY t.${key})::float8 AS key_rank
              FROM ONLY ${qualifiedName(relation.schema, relation.name)} t
             WHERE t.ctid = ANY (ARRAY(SELECT tid FROM tids))) s`;
}

/** The DEBUG log's words for a sample. */
export function describeSample(s: KeyOrderSample): string {
  const corr = s.correlation === null ? 'no correlation to be had' : `correlation ${s.correlation.toFixed(2)}`;
  return `sampled ${s.rows} rows on ${s.sampledPages} of ${s.pages} pages: ${corr}`;
}
