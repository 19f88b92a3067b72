import type pg from 'pg';

/** What a relation in the WAL is to the streams: a table's own rows, or the compressed data of a hypertable. */
export interface WalRelation {
  /** the stream's relation the rows belong to (a hypertable for its chunks, the root for a partition) */
  readonly schema: string;
  readonly name: string;
  /** set for a compressed chunk (`compress_hyper_*`): its rows are compressed batches, never records */
  readonly compressedChunk?: boolean;
}

/** Whether a WAL relation's rows are the stream's (its table, a chunk of its hypertable, a partition of it). */
export function streamOwns(
  plan: { readonly relation: { readonly schema: string; readonly name: string } },
  rel: WalRelation | undefined,
): rel is WalRelation {
  return !!rel && rel.schema === plan.relation.schema && rel.name === plan.relation.name;
}

const CHUNK_NAME = /^(?:_hyper|compress_hyper)_(\d+)_\d+_chunk$/;

/**
 * Maps the relations logical decoding reports to the relations users select. Logical decoding sees a
 * hypertable's changes on its chunk tables, never on the hypertable, and a partitioned table's on its
 * leaf partitions. Asked once per relation per run (pgoutput sends a relation's description before its
 * first change), so the cost does not grow with the number of changes.
 */
export class RelationMap {
  private readonly cache = new Map<string, Promise<WalRelation | undefined>>();
  private timescale?: Promise<boolean>;

  constructor(private readonly use: <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>) {}

  resolve(schema: string, name: string): Promise<WalRelation | undefined> {
    const key = `${schema}\u0000${name}`;
    let found = this.cache.get(key);
    if (!found) this.cache.set(key, (found = this.lookup(schema, name)));
    return found;
  }

  private async lookup(schema: string, name: string): Promise<WalRelation | undefined> {
    this.timescale ??= this.use(
      async (c) => (await c.query(`SELECT to_regclass('_timescaledb_catalog.chunk') IS NOT NULL AS ok`)).rows[0].ok as boolean,
    );
    if (await this.timescale) {
      const chunk = await this.chunkOwner(schema, name);
      if (chunk) return chunk;
    }
    // a partition belongs to its root's stream; a table to its own (pg_partition_root is NULL for it)
    return this.use(async (c) => {
      const { rows } = await c.query<{ schema: string; name: string }>(
        `SELECT n.nspname AS schema, r.relname AS name
           FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
          WHERE r.oid = coalesce(pg_partition_root(to_regclass($1)), to_regclass($1))`,
        [`${quote(schema)}.${quote(name)}`],
      );
      return rows[0];
    });
  }

  /**
   * A chunk's hypertable, by TimescaleDB's catalog; a chunk dropped since (retention, a merge) by its name
   * `_hyper_<hypertable id>_<n>_chunk`, whose hypertable still exists. Verified on 2.23 and 2.28.
   */
  private async chunkOwner(schema: string, name: string): Promise<WalRelation | undefined> {
    return this.use(async (c) => {
      const { rows } = await c.query<{ schema: string; name: string; owner_schema: string | null; owner_name: string | null }>(
        `SELECT h.schema_name AS schema, h.table_name AS name, p.schema_name AS owner_schema, p.table_name AS owner_name
           FROM _timescaledb_catalog.hypertable h
           LEFT JOIN _timescaledb_catalog.hypertable p ON p.compressed_hypertable_id = h.id
          WHERE h.id = coalesce(
                  (SELECT ch.hypertable_id FROM _timescaledb_catalog.chunk ch WHERE ch.schema_name = $1 AND ch.table_name = $2),
                  $3::int)`,
        [schema, name, schema === '_timescaledb_internal' ? (CHUNK_NAME.exec(name)?.[1] ?? null) : null],
      );
      const row = rows[0];
      if (!row) return undefined;
      // a compressed chunk belongs to the internal compressed hypertable; its owner is the user's hypertable
      if (row.owner_schema && row.owner_name) return { schema: row.owner_schema, name: row.owner_name, compressedChunk: true };
      return { schema: row.schema, name: row.name };
    });
  }
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
