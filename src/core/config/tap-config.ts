import type { SslMode } from './config-schema.js';

/** The validated config, with defaults applied and aliases resolved. Plugins read their own keys from `raw`. */
export interface TapConfig {
  readonly connection: ConnectionSettings;
  /** ssh_tunnel with enable true */
  readonly sshTunnel?: SshTunnelSettings;
  readonly filterSchemas?: readonly string[];
  readonly stateEveryNRows: number;
  readonly statementTimeout: string;
  readonly lockTimeout: string;
  readonly retry: RetryPolicy;
  readonly fullTableOrderByKey: boolean;
  readonly decoder: 'auto' | 'csv';
  /** chunk_prefetch: read the next chunk or page range ahead on a second connection */
  readonly prefetch: boolean;
  /** write ACTIVATE_VERSION around FULL_TABLE syncs */
  readonly activateVersion: boolean;
  /** shard_index of shard_count, when shard_count is above 1: this process reads only that shard of each stream */
  readonly shard?: Shard;
  readonly plugins: readonly { module: string; options?: Record<string, unknown> }[];
  readonly disablePlugins: readonly string[];
  /** Every key as given (after defaults), for plugins. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * One of `count` disjoint parts of every stream (shard_index, shard_count). Every process of a sharded
 * run computes the same parts from the stream alone (its parts' ranges or names, its rows' keys), so the
 * processes need not talk to each other and each keeps its own STATE.
 */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly sslmode: SslMode;
  readonly sslRootCert?: string;
  readonly sslCert?: string;
  readonly sslKey?: string;
  readonly applicationName: string;
  /**
   * Set when the connection goes through an SSH tunnel: `host` and `port` are then the tunnel's local end,
   * and these are the database as the SSH server sees it (for messages, and TLS's server identity).
   */
  readonly tunnel?: { readonly host: string; readonly port: number; readonly via: string };
}

/** ssh_tunnel, compatible with MeltanoLabs tap-postgres. */
export interface SshTunnelSettings {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly privateKey: string;
  readonly privateKeyPassword?: string;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}
