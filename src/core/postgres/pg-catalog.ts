import type pg from 'pg';
import type { PgTypeInfo } from './type-mapping.js';

/**
 * Reads what discovery and sync need from pg_catalog, one query per kind of fact (never one per table):
 * information_schema is slow on large catalogs.
 */
export interface RelationInfo {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** r table, p partitioned table, v view, m materialized view, f foreign table */
  readonly relkind: string;
  readonly rowEstimate: number | null;
  /** row-level security applies to the tap's role here: it reads only the rows the policies show it */
  readonly rowSecurity?: boolean;
}

export interface ColumnInfo {
  readonly relOid: number;
  readonly name: string;
  readonly position: number;
  readonly notNull: boolean;
  readonly type: PgTypeInfo;
  /** false when the tap's role may not SELECT this column (a table readable through column grants only) */
  readonly readable?: boolean;
}

const SYSTEM_SCHEMA_FILTER = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

/**
 * Tables, partitioned tables (the parent only), views, materialized views and foreign tables the user can
 * read, wholly or through column-level grants (`GRANT SELECT (a, b) ON t`: the columns it may not read
 * are marked by listColumns).
 */
export async function listRelations(client: pg.ClientBase, schemas?: readonly string[]): Promise<RelationInfo[]> {
  const { rows } = await client.query<{ oid: number; schema: string; name: string; relkind: string; reltuples: number; rls: boolean }>(
    `SELECT c.oid::int8::float8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.reltuples::float8 AS reltuples,
            pg_catalog.row_security_active(c.oid) AS rls
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND ${SYSTEM_SCHEMA_FILTER}
        AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[]))
        AND has_schema_privilege(n.oid, 'USAGE') AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
      ORDER BY n.nspname, c.relname`,
    [schemas ?? null],
  );
  return rows.map((r) => ({
    oid: Number(r.oid),
    schema: r.schema,
    name: r.name,
    relkind: r.relkind,
    rowEstimate: r.reltuples >= 0 ? Math.round(r.reltuples) : null,
    rowSecurity: r.rls,
  }));
}

/** Finds relations by schema and name (sync resolves catalog streams to live relations with this). */
export async function findRelations(client: pg.ClientBase, names: readonly { schema: string; name: string }[]): Promise<RelationInfo[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{ oid: number; schema: string; name: string; relkind: string; reltuples: number; rls: boolean }>(
    `SELECT c.oid::int8::float8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.reltuples::float8 AS reltuples,
            pg_catalog.row_security_active(c.oid) AS rls
       FROM unnest($1::text[], $2::text[]) AS w(schema, name)
       JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.name`,
    [names.map((n) => n.schema), names.map((n) => n.name)],
  );
  return rows.map(({ rls, ...r }) => ({
    ...r,
    oid: Number(r.oid),
    rowEstimate: r.reltuples >= 0 ? Math.round(r.reltuples) : null,
    rowSecurity: rls,
  }));
}

/** The columns of these relations with their types, domains resolved to their base type (any depth). */
export async function listColumns(client: pg.ClientBase, relOids: readonly number[]): Promise<ColumnInfo[]> {
  if (relOids.length === 0) return [];
  const { rows } = await client.query(
    `WITH RECURSIVE base(oid, base_oid, depth) AS (
         SELECT t.oid, t.oid, 0 FROM pg_catalog.pg_type t
          WHERE t.oid IN (SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE a.attrelid = ANY($1::oid[]))
         UNION ALL
         SELECT b.oid, t.typbasetype, b.depth + 1 FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.base_oid
          WHERE t.typtype = 'd' AND b.depth < 16
       ), resolved AS (
         SELECT DISTINCT ON (oid) oid, base_oid FROM base ORDER BY oid, depth DESC
       )
     SELECT a.attrelid::int8::float8 AS rel_oid, a.attname AS name, a.attnum AS position, a.attnotnull AS not_null,
            a.attndims AS ndims, has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable, format_type(a.atttypid, a.atttypmod) AS sql_type,
            bt.typname AS typname, bt.typtype::text AS typtype, bt.typcategory::text AS typcategory,
            et.typname AS elem_typname, et.typtype::text AS elem_typtype,
            (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = bt.oid) AS enum_labels,
            (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = et.oid) AS elem_enum_labels
       FROM pg_catalog.pg_attribute a
       JOIN resolved r ON r.oid = a.atttypid
       JOIN pg_catalog.pg_type bt ON bt.oid = r.base_oid
       LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [relOids],
  );
  return rows.map((r) => ({
    relOid: Number(r.rel_oid),
    name: r.name,
    position: r.position,
    notNull: r.not_null,
    type: {
      sqlType: r.sql_type,
      typname: r.typname,
      typtype: r.typtype,
      typcategory: r.typcategory,
      elemTypname: r.elem_typname ?? undefined,
      elemTyptype: r.elem_typtype ?? undefined,
      ndims: r.ndims,
      enumLabels: r.enum_labels ?? undefined,
      elemEnumLabels: r.elem_enum_labels ?? undefined,
    },
    readable: r.readable,
  }));
}

/** Primary key columns in key order, per relation oid. */
export async function listPrimaryKeys(client: pg.ClientBase, relOids: readonly number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (relOids.length === 0) return out;
  const { rows } = await client.query<{ rel_oid: number; cols: string[] }>(
    `SELECT i.indrelid::int8::float8 AS rel_oid,
            array_agg(a.attname::text ORDER BY k.ord) AS cols
       FROM pg_catalog.pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indisprimary AND i.indrelid = ANY($1::oid[])
      GROUP BY i.indrelid`,
    [relOids],
  );
  for (const r of rows) out.set(Number(r.rel_oid), r.cols);
  return out;
}

export async function currentDatabase(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  return rows[0]!.db;
}

/** PGlite (the embedded engine, one connection at a time), whether or not TimescaleDB is installed. */
export async function embeddedEngine(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ v: string }>('SELECT version() AS v');
  return /emscripten/i.test(rows[0]?.v ?? '');
}
