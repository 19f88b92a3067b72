import type { SslMode } from './config-schema.js';

/** The validated config, with defaults applied and aliases resolved. Plugins read their own keys from `raw`. */
export interface TapConfig {
  readonly connection: ConnectionSettings;
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
  readonly plugins: readonly { module: string; options?: Record<string, unknown> }[];
  readonly disablePlugins: readonly string[];
  /** Every key as given (after defaults), for plugins. */
  readonly raw: Readonly<Record<string, unknown>>;
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
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}
