import { createHash } from 'node:crypto';
import type pg from 'pg';

/** One side of a table: its live rows' count and a checksum over every compared column. */
export interface TableSide {
  readonly rows: number;
  readonly checksum: string;
}

/** A key whose rows differ: its normalized values on each side (undefined: no live row there). */
export interface KeyDifference {
  readonly key: string;
  readonly source: string | undefined;
  readonly target: string | undefined;
}

export interface TableComparison {
  readonly table: string;
  readonly equal: boolean;
  readonly source: TableSide;
  readonly target: TableSide;
  /** how many keys differ in all */
  readonly differing: number;
  /** the first differing keys, in key order */
  readonly differences: readonly KeyDifference[];
}

interface ColumnInfo {
  name: string;
  typname: string;
  key: boolean;
}

const US = `'YYYY-MM-DD"T"HH24:MI:SS.US'`;

/**
 * Compares a source table (schema public) with what target-postgres loaded (schema loaded): the source's
 * rows against the target's rows whose `_sdc_deleted_at` is null, per primary key (a keyless table as a
 * multiset of rows), over every column the source has now. Values are normalized so that types the target
 * maps differently compare equal: integers and numerics as numeric text without trailing zeros,
 * timestamptz as UTC microsecond text (the target stores timestamp without time zone), jsonb as its
 * canonical text (JSON null as NULL), booleans and text as text. A column dropped at the source is not compared; one the
 * target has and the source does not is ignored; one the source has and the target lacks compares as NULL.
 */
export async function compareTable(source: pg.Client, target: pg.Client, table: string, show = 5): Promise<TableComparison> {
  const srcCols = await columns(source, `public.${table}`);
  if (!srcCols) throw new Error(`source table public.${table} does not exist`);
  const tgtCols = (await columns(target, `loaded.${table}`)) ?? [];
  const ordered = [...srcCols].sort((a, b) => a.name.localeCompare(b.name));
  const keyCols = ordered.filter((c) => c.key);
  const byName = new Map(tgtCols.map((c) => [c.name, c]));

  const srcSql = rowsSql(`public.${table}`, keyCols, ordered, (c) => normalize(c, c), 'true');
  const src = await read(source, srcSql);
  let tgt = new Map<string, string[]>();
  if (tgtCols.length) {
    const live = byName.has('_sdc_deleted_at') ? '_sdc_deleted_at IS NULL' : 'true';
    const tgtSql = rowsSql(
      `loaded.${table}`,
      keyCols,
      ordered,
      (c) => (byName.has(c.name) ? normalize(c, byName.get(c.name)!) : 'NULL'),
      live,
    );
    tgt = await read(target, tgtSql);
  }

  const keys = [...new Set([...src.keys(), ...tgt.keys()])].sort();
  const differences: KeyDifference[] = [];
  let differing = 0;
  for (const key of keys) {
    const a = (src.get(key) ?? []).sort();
    const b = (tgt.get(key) ?? []).sort();
    if (a.length === b.length && a.every((v, i) => v === b[i])) continue;
    differing++;
    if (differences.length < show) {
      differences.push({ key, source: a.length ? a.join(' + ') : undefined, target: b.length ? b.join(' + ') : undefined });
    }
  }
  const sSide = side(src);
  const tSide = side(tgt);
  return { table, equal: differing === 0, source: sSide, target: tSide, differing, differences };
}

async function columns(db: pg.Client, relation: string): Promise<ColumnInfo[] | undefined> {
  const { rows } = await db.query<{ name: string; typname: string; key: boolean; exists: boolean }>(
    `SELECT a.attname AS name, t.typname, coalesce(a.attnum = ANY (i.indkey), false) AS key
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [relation],
  );
  return rows.length ? rows : undefined;
}

/** The SQL of a column's value, normalized by what the source's type means and the side's type holds. */
function normalize(src: ColumnInfo, here: ColumnInfo): string {
  const c = `"${here.name.replace(/"/g, '""')}"`;
  let v: string;
  if (src.typname === 'timestamptz') {
    if (here.typname === 'timestamp') v = `to_char(${c}, ${US})`;
    else v = `to_char(${c}::timestamptz AT TIME ZONE 'UTC', ${US})`;
  } else if (['int2', 'int4', 'int8', 'numeric', 'float4', 'float8'].includes(src.typname)) {
    v = `trim_scale(${c}::numeric)::text`;
  } else if (src.typname === 'jsonb' || src.typname === 'json') {
    // a Singer record's null cannot say SQL NULL or JSON null, and target-postgres stores it as JSON null
    v = `nullif(${c}::jsonb, 'null'::jsonb)::text`;
  } else {
    v = `${c}::text`;
  }
  // long values (TOASTed text) compare by length and md5, so a report stays readable
  return `CASE WHEN length(${v}) > 80 THEN 'len ' || length(${v}) || ' md5 ' || md5(${v}) ELSE ${v} END`;
}

function rowsSql(relation: string, keyCols: ColumnInfo[], cols: ColumnInfo[], expr: (c: ColumnInfo) => string, where: string): string {
  const row = `json_build_object(${cols.map((c) => `'${c.name.replace(/'/g, "''")}', ${expr(c)}`).join(', ')})::text`;
  const key = keyCols.length ? `json_build_array(${keyCols.map(expr).join(', ')})::text` : row;
  return `SELECT ${key} AS k, ${row} AS r FROM ${relation} WHERE ${where}`;
}

async function read(db: pg.Client, sql: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const { rows } = await db.query<{ k: string; r: string }>(sql);
  for (const { k, r } of rows) {
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

function side(rows: Map<string, string[]>): TableSide {
  const all = [...rows.values()].flat().sort();
  return { rows: all.length, checksum: createHash('md5').update(all.join('\n')).digest('hex') };
}
