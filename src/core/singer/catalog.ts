import type { JsonSchema } from '../config/config-schema.js';
import { CatalogError } from '../errors.js';
import { catalogInputSchema } from './input-schemas.js';
import { inputProblems } from './input-validation.js';

/** Singer metadata for one breadcrumb: `[]` for the stream, `['properties', col]` for a column. */
export interface MetadataEntry {
  breadcrumb: string[];
  metadata: Record<string, unknown>;
}

/** One catalog stream. Top-level replication fields are the ones Meltano writes. */
export interface CatalogEntry {
  tap_stream_id: string;
  stream: string;
  table_name: string;
  schema: JsonSchema & { properties: Record<string, JsonSchema> };
  metadata: MetadataEntry[];
  key_properties?: string[];
  replication_method?: string;
  replication_key?: string;
  is_view?: boolean;
  [key: string]: unknown;
}

export interface Catalog {
  streams: CatalogEntry[];
}

export type ReplicationMethod = 'FULL_TABLE' | 'INCREMENTAL' | 'LOG_BASED';

/** The metadata at `[]` of a stream. */
export function streamMetadata(entry: CatalogEntry): Record<string, unknown> {
  return entry.metadata.find((m) => m.breadcrumb.length === 0)?.metadata ?? {};
}

/** The metadata of one column (`['properties', name]`). */
export function columnMetadata(entry: CatalogEntry, column: string): Record<string, unknown> {
  return (
    entry.metadata.find((m) => m.breadcrumb.length === 2 && m.breadcrumb[0] === 'properties' && m.breadcrumb[1] === column)?.metadata ?? {}
  );
}

/** Sets keys on the metadata at a breadcrumb, creating the entry when missing. */
export function setMetadata(entry: CatalogEntry, breadcrumb: string[], values: Record<string, unknown>): void {
  const found = entry.metadata.find((m) => m.breadcrumb.length === breadcrumb.length && m.breadcrumb.every((b, i) => b === breadcrumb[i]));
  if (found) Object.assign(found.metadata, values);
  else entry.metadata.push({ breadcrumb, metadata: { ...values } });
}

/** A stream is selected by `selected` at `[]`, else by `selected-by-default`, else by a top-level `selected`. */
export function isSelected(entry: CatalogEntry): boolean {
  const md = streamMetadata(entry);
  if (typeof md.selected === 'boolean') return md.selected;
  if (typeof entry.selected === 'boolean') return entry.selected as boolean;
  return md['selected-by-default'] === true;
}

/** The columns to read: automatic ones always, available ones unless deselected, unsupported never. */
export function selectedColumns(entry: CatalogEntry): string[] {
  return Object.keys(entry.schema.properties).filter((col) => {
    const md = columnMetadata(entry, col);
    if (md.inclusion === 'unsupported') return false;
    if (md.inclusion === 'automatic') return true;
    if (typeof md.selected === 'boolean') return md.selected;
    return md['selected-by-default'] !== false;
  });
}

export function replicationMethod(entry: CatalogEntry): ReplicationMethod {
  const md = streamMetadata(entry);
  const method = (md['replication-method'] ?? entry.replication_method ?? md['forced-replication-method'] ?? 'FULL_TABLE') as string;
  const upper = method.toUpperCase();
  if (upper !== 'FULL_TABLE' && upper !== 'INCREMENTAL' && upper !== 'LOG_BASED') {
    throw new CatalogError(
      `stream ${entry.tap_stream_id}: replication-method ${method} is not supported; use FULL_TABLE, INCREMENTAL or LOG_BASED`,
    );
  }
  // LOG_BASED is read by the logical-replication plugin's strategy; without it no reader claims the stream
  return upper;
}

export function replicationKey(entry: CatalogEntry): string | undefined {
  const md = streamMetadata(entry);
  return (md['replication-key'] ?? entry.replication_key) as string | undefined;
}

export function keyProperties(entry: CatalogEntry): string[] {
  const md = streamMetadata(entry);
  return ((md['table-key-properties'] ?? entry.key_properties ?? []) as string[]).slice();
}

/** Checks the shape of a catalog read from a file; names the first problem and the fix. */
export function assertCatalog(input: unknown, path: string): Catalog {
  const fail = (what: string): never => {
    throw new CatalogError(`the catalog ${path} ${what}; run --discover to make a new one`);
  };
  if (typeof input !== 'object' || input === null || !Array.isArray((input as Catalog).streams)) {
    fail('has no "streams" list');
  }
  for (const [i, s] of (input as Catalog).streams.entries()) {
    if (typeof s !== 'object' || s === null) fail(`has a stream #${i} that is not an object`);
    if (typeof s.tap_stream_id !== 'string') fail(`has a stream #${i} without tap_stream_id`);
    const props: unknown = typeof s.schema === 'object' && s.schema !== null ? s.schema.properties : undefined;
    if (typeof props !== 'object' || props === null || Array.isArray(props))
      fail(`stream ${s.tap_stream_id} has no schema.properties object`);
    if (s.metadata !== undefined && !Array.isArray(s.metadata)) fail(`stream ${s.tap_stream_id} has metadata that is not a list`);
    if (!Array.isArray(s.metadata)) s.metadata = [];
    for (const m of s.metadata) {
      if (typeof m !== 'object' || m === null || !Array.isArray(m.breadcrumb) || typeof m.metadata !== 'object' || m.metadata === null) {
        fail(`stream ${s.tap_stream_id} has a metadata entry without a breadcrumb list and a metadata object`);
      }
    }
    s.stream ??= s.tap_stream_id;
  }
  // the checks above name the commonest mistakes in words; the schema types every other field the tap uses
  const problems = inputProblems('catalog', catalogInputSchema, input);
  if (problems.length > 0) {
    throw new CatalogError(
      `the catalog ${path} is malformed: ${problems.join('; ')}; fix these fields or run --discover to make a new one`,
    );
  }
  return input as Catalog;
}
