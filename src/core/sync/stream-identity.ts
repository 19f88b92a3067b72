import { streamId } from '../discovery/catalog-builder.js';
import { qualifiedName } from '../postgres/sql.js';
import { streamMetadata, type CatalogEntry } from '../singer/catalog.js';

/**
 * A stream's id is derived from its table (`schema-table`, or the quoted name when that is ambiguous),
 * and the id keys its bookmark. A catalog whose `table_name` (or `table-name` metadata) points at
 * another table read that table under the id and bookmark of the first, silently: `public-canary`
 * with `table_name: "t"` emitted t's rows as canary's and moved canary's bookmark. Such an entry is
 * refused (exit 3) with the names involved.
 */
export function streamIdentityProblem(entry: CatalogEntry, schema: string, table: string): string | undefined {
  const id = entry.tap_stream_id;
  const fromMd = streamMetadata(entry)['table-name'];
  if (typeof fromMd === 'string' && entry.table_name !== undefined && fromMd !== entry.table_name) {
    return `stream ${id}: its table-name metadata "${fromMd}" and its table_name "${entry.table_name}" name different tables (run --discover, or make them agree)`;
  }
  const ids = [streamId(schema, table), qualifiedName(schema, table)];
  if (ids.includes(id)) return undefined;
  return `stream ${id} names the table "${schema}"."${table}", whose stream is ${ids[0]}: a stream reads its own table under its own bookmark (run --discover, or fix tap_stream_id, schema-name and table_name to agree)`;
}
