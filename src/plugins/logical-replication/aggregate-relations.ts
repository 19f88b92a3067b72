import type pg from 'pg';
import { ConfigurationError } from '../../core/errors.js';
import { qualifiedName } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { SDC_DELETED_AT, SDC_LSN } from './change-columns.js';

/**
 * A continuous aggregate's changes are its materialization hypertable's: a refresh deletes the rows of the
 * buckets it rewrites and inserts them again (or MERGEs them, `timescaledb.enable_merge_on_cagg_refresh`),
 * on the chunks `_hyper_<mat id>_<n>_chunk`, so decoding them gives exactly the aggregate's changes,
 * deletes of vanished (bucket, group) rows included. Since 2.7 (the finalized form, the only one 2.14+
 * creates) the materialization hypertable has the view's columns, same names and types, and a
 * materialized-only aggregate's view is `SELECT <columns> FROM <materialization hypertable>`: the
 * hypertable is the view. Checked on 2.28.
 */
export interface AggregateSource {
  readonly view: { readonly schema: string; readonly name: string };
  readonly mat: { readonly oid: number; readonly schema: string; readonly name: string };
  readonly materializedOnly: boolean;
  /** pg_class.relreplident of the materialization hypertable: 'd' default (it has no primary key), 'f' full, … */
  readonly replicaIdentity: string;
  /** the materialization hypertable's columns: name -> format_type */
  readonly columns: Readonly<Record<string, string>>;
}

const hasCatalog = async (c: pg.ClientBase): Promise<boolean> =>
  (await c.query<{ ok: boolean }>(`SELECT to_regclass('_timescaledb_catalog.continuous_agg') IS NOT NULL AS ok`)).rows[0]!.ok;

const SOURCES = `
  SELECT ca.user_view_schema AS view_schema, ca.user_view_name AS view_name, ca.materialized_only,
         h.schema_name AS mat_schema, h.table_name AS mat_name, c.oid::int AS mat_oid, c.relreplident AS ident,
         (SELECT json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod)) FROM pg_catalog.pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
    FROM _timescaledb_catalog.continuous_agg ca
    JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
    JOIN pg_catalog.pg_class c ON c.oid = to_regclass(format('%I.%I', h.schema_name, h.table_name))`;

interface SourceRow {
  view_schema: string;
  view_name: string;
  materialized_only: boolean;
  mat_schema: string;
  mat_name: string;
  mat_oid: number;
  ident: string;
  columns: Record<string, string> | null;
}

function source(r: SourceRow): AggregateSource {
  return {
    view: { schema: r.view_schema, name: r.view_name },
    mat: { oid: Number(r.mat_oid), schema: r.mat_schema, name: r.mat_name },
    materializedOnly: r.materialized_only === true,
    replicaIdentity: r.ident,
    columns: r.columns ?? {},
  };
}

/** Every continuous aggregate with its materialization hypertable, by `schema\0view`; empty without TimescaleDB. */
export async function listAggregateSources(c: pg.ClientBase): Promise<Map<string, AggregateSource>> {
  if (!(await hasCatalog(c))) return new Map();
  const { rows } = await c.query<SourceRow>(SOURCES);
  return new Map(rows.map((r) => [`${r.view_schema}\u0000${r.view_name}`, source(r)]));
}

/** The continuous aggregate a view is, or undefined. */
export async function aggregateSource(c: pg.ClientBase, schema: string, name: string): Promise<AggregateSource | undefined> {
  if (!(await hasCatalog(c))) return undefined;
  const { rows } = await c.query<SourceRow>(`${SOURCES} WHERE ca.user_view_schema = $1 AND ca.user_view_name = $2`, [schema, name]);
  return rows[0] ? source(rows[0]) : undefined;
}

/**
 * The plan a LOG_BASED stream's changes are read with: for a continuous aggregate, the same stream (its
 * name, SCHEMA, key properties: bucket + GROUP BY columns) on its materialization hypertable, so the
 * publication, the replica identity and compression checks, the chunks of the WAL and the initial copy
 * (in the slot's snapshot) all concern the relation whose rows the aggregate is. Any other plan is
 * returned as it is. Refused, before anything is written, where the hypertable is not the view:
 * - a real-time aggregate (`materialized_only = false`): rows above its watermark are computed from the
 *   source hypertable when the view is queried, and no WAL change of the materialization holds them;
 * - a materialization hypertable without REPLICA IDENTITY FULL: it has no primary key, so a refresh's
 *   delete would carry no bucket or group (and, once the publication covers its chunks, PostgreSQL
 *   rejects the delete and the refresh fails);
 * - a catalog column the materialization hypertable lacks or types otherwise (the pre-2.7 partial form).
 */
export async function changeSourcePlan(c: pg.ClientBase, plan: StreamPlan): Promise<StreamPlan> {
  if (plan.relation.relkind !== 'v') return plan;
  const agg = await aggregateSource(c, plan.relation.schema, plan.relation.name);
  if (!agg) return plan;
  const view = qualifiedName(agg.view.schema, agg.view.name);
  const mat = qualifiedName(agg.mat.schema, agg.mat.name);
  if (!agg.materializedOnly) {
    throw new ConfigurationError(
      `${plan.tapStreamId} is a real-time continuous aggregate (materialized_only = false): its rows above the watermark are computed from its source when it is queried, and are in no change logical decoding sees, so LOG_BASED cannot keep them in the target. Run ALTER MATERIALIZED VIEW ${view} SET (timescaledb.materialized_only = true) to read it LOG_BASED, exactly; or read it INCREMENTAL on its bucket (rows that vanish from it then stay in the target)`,
    );
  }
  if (agg.replicaIdentity !== 'f' && agg.replicaIdentity !== 'i') {
    throw new ConfigurationError(
      `${plan.tapStreamId} is read LOG_BASED through its materialization hypertable ${mat}, which has no primary key: a refresh's delete of a (bucket, group) row would carry none of its key (${plan.keyProperties.join(', ')}), and once the publication covers its chunks PostgreSQL rejects such deletes and the refresh fails. Have a DBA run ALTER TABLE ${mat} REPLICA IDENTITY FULL (TimescaleDB applies it to the chunks, existing and new)`,
    );
  }
  const own = plan.columns.filter((col) => !col.computed && col.name !== SDC_LSN && col.name !== SDC_DELETED_AT);
  const unlike = own.filter((col) => agg.columns[col.name] !== col.type.sqlType);
  if (unlike.length > 0) {
    throw new ConfigurationError(
      `${plan.tapStreamId}: the materialization hypertable ${mat} has no column ${unlike.map((col) => `${col.name} ${col.type.sqlType}`).join(', ')} of the view (a continuous aggregate in the partial form of TimescaleDB before 2.7?), so its changes cannot be the view's rows: migrate it (CALL cagg_migrate('${view}')) or read it INCREMENTAL or FULL_TABLE`,
    );
  }
  return { ...plan, relation: { ...plan.relation, oid: agg.mat.oid, schema: agg.mat.schema, name: agg.mat.name, relkind: 'r' } };
}

/**
 * Tables in the schemas a LOG_BASED stream's publication covers whose UPDATE and DELETE PostgreSQL will
 * reject ("cannot delete from table … because it does not have a replica identity and publishes deletes"):
 * chunks of hypertables without a primary key or replica identity, and among them continuous aggregates'
 * materializations, whose refreshes then fail as soon as they rewrite a materialized bucket. A stream on a
 * hypertable or an aggregate publishes `_timescaledb_internal` (every hypertable's chunks by default) and
 * its hypertable's chunk schema. `relation`: the hypertable the stream's changes are read from. Returns one
 * line per such hypertable with the statement that avoids it. Seen on 2.28: a refresh policy's job then
 * fails with that error at every run.
 */
export async function rejectedByPublication(c: pg.ClientBase, relation: { schema: string; name: string }): Promise<string[]> {
  if (!(await hasCatalog(c))) return [];
  const { rows } = await c.query<{ what: string; fix: string }>(
    `WITH published AS (
       SELECT s.associated_schema_name AS schema FROM _timescaledb_catalog.hypertable s WHERE s.schema_name = $1 AND s.table_name = $2
       UNION SELECT '_timescaledb_internal' FROM _timescaledb_catalog.hypertable s WHERE s.schema_name = $1 AND s.table_name = $2)
     SELECT CASE WHEN ca.mat_hypertable_id IS NOT NULL
                 THEN format('continuous aggregate %I.%I (refreshes that rewrite a materialized bucket fail)', ca.user_view_schema, ca.user_view_name)
                 ELSE format('hypertable %I.%I (its UPDATE and DELETE fail)', h.schema_name, h.table_name) END AS what,
            format('ALTER TABLE %I.%I REPLICA IDENTITY FULL', h.schema_name, h.table_name) AS fix
       FROM _timescaledb_catalog.hypertable h
       JOIN pg_catalog.pg_class r ON r.oid = to_regclass(format('%I.%I', h.schema_name, h.table_name))
       LEFT JOIN _timescaledb_catalog.continuous_agg ca ON ca.mat_hypertable_id = h.id
      WHERE h.associated_schema_name IN (SELECT schema FROM published)
        AND h.compression_state <> 2
        AND (r.relreplident = 'n' OR (r.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = r.oid AND i.indisprimary)))
      ORDER BY 1`,
    [relation.schema, relation.name],
  );
  return rows.map((r) => `${r.what}: ${r.fix}`);
}
