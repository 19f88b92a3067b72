import type pg from 'pg';
import { ConfigurationError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';
import { qualifiedName, quoteIdent } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';

interface PublicationRow {
  all: boolean;
  insert: boolean;
  update: boolean;
  delete: boolean;
  truncate: boolean;
  schemas: string[] | null;
}

/**
 * The publication the slot is read with must send every change of the stream's rows. What the tap does
 * to it, and nothing else:
 * - missing: it creates it `FOR TABLES IN SCHEMA` the schemas that hold the stream's rows (a table's and
 *   its partitions', a hypertable's chunk schemas, so chunks created later are published with no gap);
 * - a publication of schemas (the kind it creates): it adds the schemas missing from it;
 * - a publication of tables (`FOR TABLE`, a DBA's): used as it is when `pg_publication_tables` lists every
 *   relation that holds the stream's rows, without a row filter or a column list; never altered;
 * - `FOR ALL TABLES`: used as it is.
 * A publication that leaves out inserts, updates, deletes or truncates, filters rows or columns, or
 * cannot cover a hypertable's future chunks is refused with the statement a DBA runs. Every change the tap
 * makes is logged as the statement it ran.
 */
export async function ensurePublication(c: pg.ClientBase, pub: string, plan: StreamPlan, log: Logger): Promise<void> {
  const wanted = await rowSchemas(c, plan);
  const { rows } = await c.query<PublicationRow>(
    `SELECT p.puballtables AS all, p.pubinsert AS insert, p.pubupdate AS update, p.pubdelete AS delete, p.pubtruncate AS truncate,
            (SELECT array_agg(n.nspname::text) FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = p.oid) AS schemas
       FROM pg_publication p WHERE p.pubname = $1`,
    [pub],
  );
  const have = rows[0];
  if (!have)
    return run(c, `CREATE PUBLICATION ${quoteIdent(pub)} FOR TABLES IN SCHEMA ${wanted.map(quoteIdent).join(', ')}`, pub, plan, log);
  const actions = (['insert', 'update', 'delete', 'truncate'] as const).filter((a) => !have[a]);
  if (actions.length > 0) {
    throw new ConfigurationError(
      `publication ${pub} does not publish ${actions.join(', ')}, so those changes of ${plan.tapStreamId} would never reach the target: have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} SET (publish = 'insert, update, delete, truncate'), or set publication to another name`,
    );
  }
  if (have.all) return;
  if (have.schemas) {
    const missing = wanted.filter((s) => !have.schemas!.includes(s));
    if (missing.length > 0)
      await run(c, `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLES IN SCHEMA ${missing.map(quoteIdent).join(', ')}`, pub, plan, log);
    return;
  }
  await checkTablePublication(c, pub, plan);
}

/** A publication of tables: it must list every relation holding the stream's rows, unfiltered, and a hypertable's chunks cannot be listed ahead. */
async function checkTablePublication(c: pg.ClientBase, pub: string, plan: StreamPlan): Promise<void> {
  const table = qualifiedName(plan.relation.schema, plan.relation.name);
  if (await isHypertable(c, plan)) {
    throw new ConfigurationError(
      `publication ${pub} lists tables, and the chunks of hypertable ${table} (also those created later) are published only by schema: have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLES IN SCHEMA ${(await rowSchemas(c, plan)).map(quoteIdent).join(', ')}, or set publication to another name (the tap creates its own)`,
    );
  }
  const { rows } = await c.query<{ oid: number; leaf: boolean; rel: string; listed: boolean; filtered: boolean; columns: string[] | null }>(
    `SELECT r.relid::int AS oid, r.isleaf AS leaf, r.relid::regclass::text AS rel, t.tablename IS NOT NULL AS listed,
            t.rowfilter IS NOT NULL AS filtered, t.attnames::text[] AS columns
       FROM (SELECT relid, isleaf FROM pg_partition_tree($2::oid::regclass)
             UNION ALL SELECT $2::oid::regclass, true WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree($2::oid::regclass))) r
       JOIN pg_class k ON k.oid = r.relid
       JOIN pg_namespace n ON n.oid = k.relnamespace
       LEFT JOIN pg_publication_tables t ON t.pubname = $1 AND t.schemaname = n.nspname AND t.tablename = k.relname
      WHERE r.isleaf OR r.relid = $2::oid
      ORDER BY 3`,
    [pub, plan.relation.oid],
  );
  // a partitioned table is published by its root (publish_via_partition_root) or by its leaves; a table is its own leaf
  const root = rows.find((r) => r.oid === plan.relation.oid);
  const covered = root?.listed ? [root] : rows.filter((r) => r.leaf);
  const unlisted = covered.filter((r) => !r.listed);
  if (unlisted.length > 0) {
    throw new ConfigurationError(
      `publication ${pub} does not list ${unlisted.map((r) => r.rel).join(', ')}, so changes of ${plan.tapStreamId} would not reach the target; the tap does not alter a publication of tables: have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${unlisted.map((r) => r.rel).join(', ')}, or set publication to another name (the tap creates its own)`,
    );
  }
  const own = plan.columns.filter((c) => !c.computed && !c.name.startsWith('_sdc_')).map((c) => c.name);
  const partial = covered.filter((r) => r.filtered || (r.columns !== null && own.some((col) => !r.columns!.includes(col))));
  if (partial.length > 0) {
    throw new ConfigurationError(
      `publication ${pub} publishes ${partial.map((r) => r.rel).join(', ')} with a row filter or a column list, so the target would not receive every change of ${plan.tapStreamId}: have a DBA publish the whole table, or set publication to another name (the tap creates its own)`,
    );
  }
}

async function run(c: pg.ClientBase, sql: string, pub: string, plan: StreamPlan, log: Logger): Promise<void> {
  try {
    await c.query(sql);
    log.info(`publication ${pub}: ran ${sql}`);
  } catch (err) {
    if ((err as { code?: string }).code === '42501')
      throw new ConfigurationError(
        `publication ${pub} does not cover ${plan.tapStreamId} and the tap's role may not change it: have a DBA run ${sql}`,
      );
    throw translateQueryError(err, sql);
  }
}

async function isHypertable(c: pg.ClientBase, plan: StreamPlan): Promise<boolean> {
  if (!(await c.query<{ ok: boolean }>(`SELECT to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL AS ok`)).rows[0]!.ok)
    return false;
  const { rows } = await c.query(`SELECT 1 FROM _timescaledb_catalog.hypertable WHERE schema_name = $1 AND table_name = $2`, [
    plan.relation.schema,
    plan.relation.name,
  ]);
  return rows.length > 0;
}

/** The schemas a stream's rows live in: its table's and partitions', or a hypertable's chunk schemas. */
async function rowSchemas(c: pg.ClientBase, plan: StreamPlan): Promise<string[]> {
  const { rows } = await c.query<{ s: string }>(
    `SELECT DISTINCT n.nspname::text AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = $1 OR c.oid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass))`,
    [plan.relation.oid],
  );
  const schemas = new Set(rows.map((r) => r.s));
  if (!(await isHypertable(c, plan))) return [...schemas].sort();
  const ht = await c.query<{ s: string }>(
    `SELECT h.associated_schema_name::text AS s FROM _timescaledb_catalog.hypertable h
      WHERE (h.schema_name = $1 AND h.table_name = $2)
         OR h.id = (SELECT compressed_hypertable_id FROM _timescaledb_catalog.hypertable WHERE schema_name = $1 AND table_name = $2)`,
    [plan.relation.schema, plan.relation.name],
  );
  for (const r of ht.rows) schemas.add(r.s);
  schemas.add('_timescaledb_internal');
  return [...schemas].sort();
}
