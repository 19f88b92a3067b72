import type pg from 'pg';
import { ConfigurationError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';

interface PublicationRow {
  all: boolean;
  own: boolean;
  insert: boolean;
  update: boolean;
  delete: boolean;
  truncate: boolean;
  schemas: string[] | null;
}

/** Said on a publication the tap creates, so that later runs know they may add to it. */
const OWN = 'created by tap-timescaledb: it adds the tables and chunk schemas of the streams it reads LOG_BASED';

/**
 * The publication the slot is read with must send every change of the stream's rows. What the tap does
 * to it, and nothing else (each statement it runs is logged):
 * - missing: it creates it with what the stream needs: the table (`FOR TABLE`: a partitioned table's
 *   partitions, later ones too, come with it), or for a hypertable its chunk schemas (`FOR TABLES IN
 *   SCHEMA`: chunks created later are published with no gap), and says in its comment that it made it;
 * - its own (that comment), or a publication of schemas only (what earlier versions created): it adds
 *   what is missing;
 * - any other (a DBA's): used as it is when `pg_publication_tables` lists every relation that holds the
 *   stream's rows, without a row filter or a column list; never altered;
 * - `FOR ALL TABLES`: used as it is.
 * Publishing a schema makes PostgreSQL reject UPDATE and DELETE on every table in it without a replica
 * identity, the tap's or not: before it adds a schema, such tables there refuse the stream, naming them
 * and the statement that avoids it. A publication that leaves out inserts, updates, deletes or truncates,
 * filters rows or columns, or cannot cover a hypertable's future chunks is refused with the statement a
 * DBA runs.
 */
export async function ensurePublication(c: pg.ClientBase, pub: string, plan: StreamPlan, log: Logger): Promise<void> {
  const hypertable = await isHypertable(c, plan);
  const table = qualifiedName(plan.relation.schema, plan.relation.name);
  const { rows } = await c.query<PublicationRow>(
    `SELECT p.puballtables AS all, p.pubinsert AS insert, p.pubupdate AS update, p.pubdelete AS delete, p.pubtruncate AS truncate,
            (SELECT array_agg(n.nspname::text) FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = p.oid) AS schemas,
            obj_description(p.oid, 'pg_publication') = $2 OR NOT EXISTS (SELECT 1 FROM pg_publication_rel pr WHERE pr.prpubid = p.oid) AS own
       FROM pg_publication p WHERE p.pubname = $1`,
    [pub, OWN],
  );
  const have = rows[0];
  const schemas = hypertable ? await chunkSchemas(c, plan) : [];
  if (!have) {
    if (hypertable) await refuseUnidentified(c, pub, schemas, plan);
    await run(
      c,
      `CREATE PUBLICATION ${quoteIdent(pub)} FOR ${hypertable ? `TABLES IN SCHEMA ${schemas.map(quoteIdent).join(', ')}` : `TABLE ${table}`}`,
      pub,
      plan,
      log,
    );
    await c.query(`COMMENT ON PUBLICATION ${quoteIdent(pub)} IS ${quoteLiteral(OWN)}`);
    return;
  }
  const actions = (['insert', 'update', 'delete', 'truncate'] as const).filter((a) => !have[a]);
  if (actions.length > 0) {
    throw new ConfigurationError(
      `publication ${pub} does not publish ${actions.join(', ')}, so those changes of ${plan.tapStreamId} would never reach the target: have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} SET (publish = 'insert, update, delete, truncate'), or set publication to another name`,
    );
  }
  if (have.all) return;
  if (hypertable) {
    const missing = schemas.filter((s) => !(have.schemas ?? []).includes(s));
    if (missing.length === 0) return;
    if (!have.own) {
      throw new ConfigurationError(
        `publication ${pub} does not publish the chunk schema(s) ${missing.join(', ')} of hypertable ${table} (chunks, also those created later, are published only by schema): have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLES IN SCHEMA ${missing.map(quoteIdent).join(', ')}, or set publication to another name (the tap creates its own)`,
      );
    }
    await refuseUnidentified(c, pub, missing, plan);
    return run(c, `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLES IN SCHEMA ${missing.map(quoteIdent).join(', ')}`, pub, plan, log);
  }
  const unlisted = await checkTablePublication(c, pub, plan);
  if (unlisted.length === 0) return;
  if (!have.own) {
    throw new ConfigurationError(
      `publication ${pub} does not list ${unlisted.join(', ')}, so changes of ${plan.tapStreamId} would not reach the target; the tap does not alter a publication it did not create: have a DBA run ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${table}, or set publication to another name (the tap creates its own)`,
    );
  }
  await run(c, `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${table}`, pub, plan, log);
}

/**
 * Tables in the schemas about to be published that have no replica identity (REPLICA IDENTITY NOTHING,
 * or DEFAULT without a primary key): once published, PostgreSQL rejects their UPDATE and DELETE ("does
 * not have a replica identity and publishes updates"), whoever writes them. A hypertable's chunks are
 * named by their hypertable (its replica identity is its chunks'); TimescaleDB's compressed chunks, its
 * hypertables' empty roots and its own tables are written without the check. Refused with the statements
 * that avoid it.
 */
async function refuseUnidentified(c: pg.ClientBase, pub: string, schemas: readonly string[], plan: StreamPlan): Promise<void> {
  const { rows } = await c.query<{ name: string | null }>(
    `WITH t AS (
       SELECT c.oid, c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1) AND c.relkind = 'r' AND NOT c.relispartition
          AND (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
          -- TimescaleDB's own tables there (bgw_policy_chunk_stats …) are written through its catalog API, not checked
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
     SELECT DISTINCT CASE
              WHEN ch.id IS NOT NULL THEN CASE WHEN h.compression_state = 2 THEN NULL ELSE format('%I.%I', h.schema_name, h.table_name) END
              WHEN root.id IS NOT NULL THEN NULL
              ELSE format('%I.%I', t.nspname, t.relname) END AS name
       FROM t
       LEFT JOIN _timescaledb_catalog.chunk ch ON ch.schema_name = t.nspname AND ch.table_name = t.relname
       LEFT JOIN _timescaledb_catalog.hypertable h ON h.id = ch.hypertable_id
       LEFT JOIN _timescaledb_catalog.hypertable root ON root.schema_name = t.nspname AND root.table_name = t.relname
      ORDER BY 1`,
    [schemas],
  );
  const names = rows.map((r) => r.name).filter((n): n is string => n !== null);
  if (names.length === 0) return;
  throw new ConfigurationError(
    `${plan.tapStreamId}: publishing schema(s) ${schemas.join(', ')} in ${pub} would make PostgreSQL reject UPDATE and DELETE on the tables there without a replica identity: ${names.join(', ')}. Have a DBA run ${names.map((n) => `ALTER TABLE ${n} REPLICA IDENTITY FULL`).join('; ')} (a hypertable's chunks take its replica identity), or read ${plan.tapStreamId} FULL_TABLE or INCREMENTAL`,
  );
}

/**
 * The relations holding a plain or partitioned table's rows that a publication does not list (a
 * partitioned table is published by its root, or by its leaves); refused when one is listed with a row
 * filter or a column list.
 */
async function checkTablePublication(c: pg.ClientBase, pub: string, plan: StreamPlan): Promise<string[]> {
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
  const root = rows.find((r) => r.oid === plan.relation.oid);
  const covered = root?.listed ? [root] : rows.filter((r) => r.leaf);
  const own = plan.columns.filter((col) => !col.computed && !col.name.startsWith('_sdc_')).map((col) => col.name);
  const partial = covered.filter((r) => r.listed && (r.filtered || (r.columns !== null && own.some((col) => !r.columns!.includes(col)))));
  if (partial.length > 0) {
    throw new ConfigurationError(
      `publication ${pub} publishes ${partial.map((r) => r.rel).join(', ')} with a row filter or a column list, so the target would not receive every change of ${plan.tapStreamId}: have a DBA publish the whole table, or set publication to another name (the tap creates its own)`,
    );
  }
  return covered.filter((r) => !r.listed).map((r) => r.rel);
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

/** A hypertable's chunk schemas: its own chunks' and its compressed chunks' (`_timescaledb_internal` by default). */
async function chunkSchemas(c: pg.ClientBase, plan: StreamPlan): Promise<string[]> {
  const { rows } = await c.query<{ s: string }>(
    `SELECT DISTINCT h.associated_schema_name::text AS s FROM _timescaledb_catalog.hypertable h
      WHERE (h.schema_name = $1 AND h.table_name = $2)
         OR h.id = (SELECT compressed_hypertable_id FROM _timescaledb_catalog.hypertable WHERE schema_name = $1 AND table_name = $2)`,
    [plan.relation.schema, plan.relation.name],
  );
  return [...new Set(['_timescaledb_internal', ...rows.map((r) => r.s)])].sort();
}
