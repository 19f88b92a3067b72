import type pg from 'pg';
import { CatalogError } from '../errors.js';
import { findRelations, listColumns, listPrimaryKeys } from '../postgres/pg-catalog.js';
import { codecFor } from '../postgres/type-mapping.js';
import { isReplicationKeyType } from '../discovery/catalog-builder.js';
import { keyProperties, replicationKey, replicationMethod, selectedColumns, streamMetadata, type CatalogEntry } from '../singer/catalog.js';
import type { PlannedColumn, StreamPlan } from '../readers/stream-plan.js';
import type { JsonSchema } from '../config/config-schema.js';
import { streamIdentityProblem } from './stream-identity.js';
import { columnSchemaProblem } from './column-schemas.js';

/**
 * Resolves the selected catalog streams against the live database before anything is written:
 * a table, column or key that no longer exists fails here, with every problem named at once.
 */
export async function planStreams(client: pg.ClientBase, entries: readonly CatalogEntry[]): Promise<StreamPlan[]> {
  // two selected streams with one id would share a bookmark: one's position would skip the other's rows
  const ids = entries.map((e) => e.tap_stream_id);
  const shared = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
  if (shared.length > 0) {
    throw new CatalogError(
      `the catalog selects several streams with the tap_stream_id ${shared.join(', ')}; give each its own tap_stream_id and stream (or run --discover, which quotes ambiguous names)`,
    );
  }
  const names = entries.map((e) => ({ schema: schemaOf(e), name: tableOf(e) }));
  const misnamed = entries.map((e, i) => streamIdentityProblem(e, names[i]!.schema, names[i]!.name)).filter((p) => p !== undefined);
  if (misnamed.length > 0) throw new CatalogError(`the catalog does not match the database: ${misnamed.join('; ')}`);
  const relations = await findRelations(client, names);
  const relByName = new Map(relations.map((r) => [`${r.schema}\u0000${r.name}`, r]));
  const columns = await listColumns(
    client,
    relations.map((r) => r.oid),
  );
  const pks = await listPrimaryKeys(
    client,
    relations.map((r) => r.oid),
  );
  const problems: string[] = [];
  const plans: StreamPlan[] = [];
  for (const [i, entry] of entries.entries()) {
    const rel = relByName.get(`${names[i]!.schema}\u0000${names[i]!.name}`);
    if (!rel) {
      problems.push(
        `stream ${entry.tap_stream_id}: table "${names[i]!.schema}"."${names[i]!.name}" no longer exists (deselect the stream or run --discover)`,
      );
      continue;
    }
    const live = new Map(columns.filter((c) => c.relOid === rel.oid).map((c) => [c.name, c]));
    const wanted = selectedColumns(entry);
    const missing = wanted.filter((c) => !live.has(c));
    if (missing.length > 0) {
      problems.push(
        `stream ${entry.tap_stream_id}: column(s) ${missing.map((c) => `"${c}"`).join(', ')} no longer exist (deselect them or run --discover)`,
      );
      continue;
    }
    const denied = wanted.filter((c) => live.get(c)!.readable === false);
    if (denied.length > 0) {
      problems.push(
        `stream ${entry.tap_stream_id}: the role may not read column(s) ${denied.map((c) => `"${c}"`).join(', ')} of "${rel.schema}"."${rel.name}" (deselect them, or GRANT SELECT (${denied.map((c) => `"${c}"`).join(', ')}) on the table)`,
      );
      continue;
    }
    const planned: PlannedColumn[] = wanted.map((name) => {
      const c = live.get(name)!;
      return { name, type: c.type, codec: codecFor(c.type, !c.notNull) };
    });
    const invalid = planned
      .map((c) => columnSchemaProblem(entry.tap_stream_id, c.name, entry.schema.properties[c.name]))
      .filter((p) => p !== undefined);
    if (invalid.length > 0) {
      problems.push(...invalid);
      continue;
    }
    const drifted = planned.map((c) => typeDrift(entry, c)).filter((p) => p !== undefined);
    if (drifted.length > 0) {
      problems.push(...drifted);
      continue;
    }
    let method;
    try {
      method = replicationMethod(entry);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    const key = replicationKey(entry);
    if (method === 'INCREMENTAL') {
      const problem = checkReplicationKey(entry, key, planned);
      if (problem) {
        problems.push(problem);
        continue;
      }
    }
    const keys = keyProperties(entry);
    const declared = keys.length > 0 ? keys : (pks.get(rel.oid) ?? []);
    plans.push({
      entry,
      tapStreamId: entry.tap_stream_id,
      stream: entry.stream ?? entry.tap_stream_id,
      relation: rel,
      columns: planned,
      method,
      replicationKey: method === 'INCREMENTAL' ? key : undefined,
      keyProperties: declared.filter((k) => planned.some((c) => c.name === k)),
    });
  }
  if (problems.length > 0) throw new CatalogError(`the catalog does not match the database: ${problems.join('; ')}`);
  return plans;
}

function checkReplicationKey(entry: CatalogEntry, key: string | undefined, planned: PlannedColumn[]): string | undefined {
  const id = entry.tap_stream_id;
  if (!key) return `stream ${id}: INCREMENTAL needs a replication-key (one of its valid-replication-keys)`;
  const col = planned.find((c) => c.name === key);
  if (!col) return `stream ${id}: replication key "${key}" is not a selected column of the table`;
  if (!isReplicationKeyType(col.type.typname, col.type.typcategory)) {
    return `stream ${id}: replication key "${key}" has type ${col.type.sqlType}, which cannot be ordered as a bookmark; use a timestamp, date, integer or numeric column`;
  }
  return undefined;
}

/**
 * A column whose type changed since discovery (int -> text) would write values that the SCHEMA, taken
 * from the catalog, rejects: the target fails mid-load. Only JSON types count (not null, formats or
 * other keywords, which a user may have edited); integer values fit a number.
 */
function typeDrift(entry: CatalogEntry, col: PlannedColumn): string | undefined {
  const jsonTypes = (schema: JsonSchema | undefined): string[] | undefined =>
    schema?.type === undefined
      ? undefined
      : ([] as unknown[]).concat(schema.type).filter((t): t is string => typeof t === 'string' && t !== 'null');
  const declared = jsonTypes(entry.schema.properties[col.name]);
  const live = jsonTypes(col.codec.schema);
  if (!declared || !live || live.every((t) => declared.includes(t) || (t === 'integer' && declared.includes('number')))) return undefined;
  return `stream ${entry.tap_stream_id}: column "${col.name}" is ${col.type.sqlType} now (JSON ${live.join('|')}), but the catalog's schema says ${declared.join('|')} (run --discover, or fix the column's schema in the catalog)`;
}

function tableOf(entry: CatalogEntry): string {
  const fromMd = streamMetadata(entry)['table-name'];
  return entry.table_name ?? (typeof fromMd === 'string' ? fromMd : entry.stream);
}

function schemaOf(entry: CatalogEntry): string {
  const md = streamMetadata(entry);
  const fromMd = md['schema-name'];
  if (typeof fromMd === 'string') return fromMd;
  const id = entry.tap_stream_id;
  const dash = id.indexOf('-');
  if (dash > 0) return id.slice(0, dash);
  throw new CatalogError(`stream ${id} has no schema-name metadata; run --discover to make a new catalog`);
}
