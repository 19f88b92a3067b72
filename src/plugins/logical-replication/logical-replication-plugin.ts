import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/container.js';
import type { ConnectionPool } from '../../core/postgres/connection-pool.js';
import type { DiscoveryContext, PluginContext, TapPlugin } from '../../core/plugins/tap-plugin.js';
import type { ReaderRegistry } from '../../core/readers/reader-registry.js';
import { setMetadata, streamMetadata, type Catalog } from '../../core/singer/catalog.js';
import type { TapState } from '../../core/singer/messages.js';
import { changeSourcePlan, listAggregateSources, rejectedByPublication } from './aggregate-relations.js';
import { withChangeColumns } from './change-columns.js';
import { LogBasedReader } from './log-based-reader.js';
import { RelationMap } from './relation-map.js';
import { replicationConfigSchema, replicationSettings } from './replication-config.js';
import { ReplicationService } from './replication-service.js';

/**
 * LOG_BASED replication through PostgreSQL's built-in pgoutput plugin: a reader strategy that claims the
 * streams whose replication method is LOG_BASED, and discovery metadata saying where it is available.
 * Its own seam: the chunk reader and the default reader do its initial copy, unchanged.
 */
export class LogicalReplicationPlugin implements TapPlugin {
  readonly name = 'logical-replication';
  readonly configSchema = replicationConfigSchema;
  readonly disabledNotice = 'streams whose replication method is LOG_BASED are read as FULL_TABLE';

  register(container: DependencyContainer, ctx: PluginContext): void {
    const pool = container.resolve<ConnectionPool>(TOKENS.Pool);
    const settings = replicationSettings(ctx.config.raw, ctx.config.connection.database);
    const initialState = (): TapState | undefined =>
      container.isRegistered(TOKENS.InitialState, true) ? container.resolve<TapState>(TOKENS.InitialState) : undefined;
    const service = new ReplicationService(pool, settings, ctx.log, initialState);
    const reader = new LogBasedReader({
      service,
      relations: new RelationMap((fn) => pool.use(fn)),
      registry: () => container.resolve<ReaderRegistry>(TOKENS.Readers),
    });
    const warned = new Set<string>();
    ctx.readers.register({
      name: 'logical-replication',
      // above every table reader: LOG_BASED decides where the rows come from, and hands the copy back to them
      precedence: 1000,
      claims: (plan) => plan.method === 'LOG_BASED',
      // one decode of the slot for every LOG_BASED stream of the run (change-feed.ts)
      readsTogether: `logical-replication:${settings.slot}`,
      // the copy goes through the table readers; changes apply `where` (change-filter.ts) and columns (change-encoder.ts)
      shapes: ['where', 'columns'],
      // the server's setup, the role and the state are checked for every stream before the first message
      preflight: (plan, chain) => service.preflight(plan, chain),
      // a continuous aggregate's changes are its materialization hypertable's (aggregate-relations.ts)
      prepare: async (plan) => {
        const source = await pool.use((c) => changeSourcePlan(c, plan));
        for (const line of await pool.use((c) => rejectedByPublication(c, source.relation))) {
          if (!warned.has(line))
            ctx.log.warn(
              `publication ${settings.publication} covers the chunks of every hypertable in their schema, and PostgreSQL rejects UPDATE and DELETE on a published table without replica identity: ${line}`,
            );
          warned.add(line);
        }
        return withChangeColumns(source);
      },
      reader,
    });
  }

  /**
   * With wal_level = logical on a primary, tables, partitioned tables, hypertables and materialized-only
   * continuous aggregates may be read LOG_BASED (other views may not, nor real-time aggregates:
   * aggregate-relations.ts); a hot standby cannot hold the publication and slot (see checkNotStandby).
   */
  async enrichCatalog(catalog: Catalog, ctx: DiscoveryContext): Promise<void> {
    const level = (await ctx.client.query<{ wal_level: string }>('SHOW wal_level').catch(() => ({ rows: [{ wal_level: 'unknown' }] })))
      .rows[0]!.wal_level;
    const standby = (await ctx.client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r').catch(() => ({ rows: [{ r: false }] })))
      .rows[0]!.r;
    const logical = level === 'logical' && !standby;
    const aggregates = await listAggregateSources(ctx.client).catch(() => new Map<string, { materializedOnly: boolean }>());
    for (const entry of catalog.streams) {
      const md = streamMetadata(entry);
      if (md['is-view'] === true) {
        const agg = aggregates.get(`${String(md['schema-name'])}\u0000${entry.table_name}`);
        if (agg)
          setMetadata(entry, [], {
            'valid-replication-methods': ['FULL_TABLE', 'INCREMENTAL', ...(logical && agg.materializedOnly ? ['LOG_BASED'] : [])],
          });
        continue;
      }
      const methods = md['forced-replication-method'] === 'FULL_TABLE' ? ['FULL_TABLE'] : ['FULL_TABLE', 'INCREMENTAL'];
      if (logical) methods.push('LOG_BASED');
      setMetadata(entry, [], { 'valid-replication-methods': methods });
    }
  }
}
