import type pg from 'pg';
import type { TapConfig } from '../config/tap-config.js';
import { qualifiedName, quoteIdent } from '../postgres/sql.js';
import { codecFor } from '../postgres/type-mapping.js';
import {
  currentDatabase,
  listColumns,
  listPrimaryKeys,
  listRelations,
  type ColumnInfo,
  type RelationInfo,
} from '../postgres/pg-catalog.js';
import type { Catalog, CatalogEntry, MetadataEntry } from '../singer/catalog.js';

/** Types a replication key can be ordered by and compared with `>=` in a way users expect. */
const REPLICATION_KEY_TYPES = new Set([
  'timestamptz',
  'timestamp',
  'date',
  'int2',
  'int4',
  'int8',
  'numeric',
  'float4',
  'float8',
  'uuid',
  'text',
  'varchar',
  'bpchar',
]);
const TIME_TYPES = new Set(['timestamptz', 'timestamp', 'date']);

export function streamId(schema: string, table: string): string {
  return `${schema}-${table}`;
}

/** True when `>=` and ORDER BY on this column type behave as a bookmark needs. */
export function isReplicationKeyType(typname: string, typcategory: string): boolean {
  return typcategory !== 'A' && REPLICATION_KEY_TYPES.has(typname);
}

export interface DiscoveryResult {
  readonly catalog: Catalog;
  readonly relations: Map<string, RelationInfo>;
}

/**
 * Builds the catalog from pg_catalog: one query each for relations, columns and keys, whatever the
 * number of tables. Partitioned tables are one stream (their leaf partitions are not streams).
 */
export async function buildCatalog(client: pg.ClientBase, config: TapConfig): Promise<DiscoveryResult> {
  const relations = await listRelations(client, config.filterSchemas);
  const oids = relations.map((r) => r.oid);
  // one client runs one query at a time
  const columns = await listColumns(client, oids);
  const keys = await listPrimaryKeys(client, oids);
  const database = await currentDatabase(client);
  const byRel = new Map<number, ColumnInfo[]>();
  for (const c of columns) {
    const list = byRel.get(c.relOid) ?? [];
    list.push(c);
    byRel.set(c.relOid, list);
  }
  const streams: CatalogEntry[] = [];
  const byId = new Map<string, RelationInfo>();
  // `schema-table` is ambiguous when names hold dashes ("a-b"."c" and "a"."b-c" are both a-b-c): those
  // get the quoted name as their id, or they would share RECORD streams and one bookmark in the state
  const uses = new Map<string, number>();
  for (const rel of relations) uses.set(streamId(rel.schema, rel.name), (uses.get(streamId(rel.schema, rel.name)) ?? 0) + 1);
  for (const rel of relations) {
    const plain = streamId(rel.schema, rel.name);
    const id = uses.get(plain)! > 1 ? qualifiedName(rel.schema, rel.name) : plain;
    const entry = catalogEntry(rel, id, byRel.get(rel.oid) ?? [], keys.get(rel.oid) ?? [], database);
    streams.push(entry);
    byId.set(entry.tap_stream_id, rel);
  }
  return { catalog: { streams }, relations: byId };
}

function catalogEntry(rel: RelationInfo, id: string, columns: ColumnInfo[], keys: string[], database: string): CatalogEntry {
  const isView = rel.relkind === 'v' || rel.relkind === 'm';
  const properties: Record<string, Record<string, unknown>> = {};
  const columnMetadata: MetadataEntry[] = [];
  const replicationKeys: string[] = [];
  for (const col of columns) {
    const typeCodec = codecFor(col.type, !col.notNull || isView);
    // a column the role may not read (column-level grants) is listed, but cannot be selected
    const denied =
      col.readable === false
        ? `no SELECT privilege on this column: GRANT SELECT (${quoteIdent(col.name)}) ON ${qualifiedName(rel.schema, rel.name)} to read it`
        : undefined;
    const codec = denied ? { ...typeCodec, unsupported: denied } : typeCodec;
    properties[col.name] = codec.schema;
    const md: Record<string, unknown> = {
      inclusion: codec.unsupported ? 'unsupported' : keys.includes(col.name) ? 'automatic' : 'available',
      'sql-datatype': col.type.sqlType,
      'selected-by-default': !codec.unsupported,
    };
    if (codec.unsupported) md['unsupported-description'] = codec.unsupported;
    columnMetadata.push({ breadcrumb: ['properties', col.name], metadata: md });
    if (!codec.unsupported && isReplicationKeyType(col.type.typname, col.type.typcategory)) replicationKeys.push(col.name);
  }
  // time columns first: they are the usual replication keys
  replicationKeys.sort((a, b) => rank(columns, a) - rank(columns, b));
  const streamMd: Record<string, unknown> = {
    'table-key-properties': keys,
    'valid-replication-keys': replicationKeys,
    'schema-name': rel.schema,
    'database-name': database,
    'is-view': isView,
    'row-count': rel.rowEstimate,
    'selected-by-default': false,
  };
  if (replicationKeys.length === 0) streamMd['forced-replication-method'] = 'FULL_TABLE';
  return {
    tap_stream_id: id,
    stream: id,
    table_name: rel.name,
    schema: { type: 'object', properties },
    key_properties: keys,
    is_view: isView,
    metadata: [{ breadcrumb: [], metadata: streamMd }, ...columnMetadata],
  };
}

function rank(columns: ColumnInfo[], name: string): number {
  const c = columns.find((x) => x.name === name)!;
  return (TIME_TYPES.has(c.type.typname) ? 0 : 1000) + c.position;
}
