import type { TapPlugin } from '../core/plugins/tap-plugin.js';
import { CompressionPlugin } from './compression/compression-plugin.js';
import { LogicalReplicationPlugin } from './logical-replication/logical-replication-plugin.js';
import { MetricsPlugin } from './metrics/metrics-plugin.js';
import { TimescaleDbPlugin } from './timescaledb/timescaledb-plugin.js';

/** The plugins that ship with the tap, in load order. Each can be turned off with `disable_plugins`. */
export function builtinPlugins(): TapPlugin[] {
  return [new TimescaleDbPlugin(), new CompressionPlugin(), new MetricsPlugin(), new LogicalReplicationPlugin()];
}
