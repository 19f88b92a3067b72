/**
 * The JSON Schema of the core's config. Plugins add their own properties (see TapPlugin.configSchema);
 * `--about` prints the merged schema, and `loadConfig` validates against the same one.
 */
export interface JsonSchema {
  [key: string]: unknown;
}

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export const coreConfigProperties: Record<string, JsonSchema> = {
  url: {
    type: 'string',
    description: 'A postgres:// connection URL; use instead of host/port/user/password/database.',
    secret: true,
  },
  host: { type: 'string', description: 'Database host.', default: 'localhost' },
  port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Database port.', default: 5432 },
  user: { type: 'string', description: 'Database user.' },
  password: { type: 'string', description: 'Database password.', secret: true },
  database: { type: 'string', description: 'Database name (alias: dbname).' },
  dbname: { type: 'string', description: 'Alias of database.' },
  sslmode: { type: 'string', enum: [...SSL_MODES], description: 'TLS mode, as libpq.', default: 'prefer' },
  ssl_root_cert: { type: 'string', description: 'Path to the CA certificate (PEM) for verify-ca/verify-full.' },
  ssl_cert: { type: 'string', description: 'Path to the client certificate (PEM).' },
  ssl_key: { type: 'string', description: 'Path to the client key (PEM).', secret: true },
  ssh_tunnel: {
    type: 'object',
    description:
      "Connect through an SSH server (a bastion host), as MeltanoLabs tap-postgres: every connection of the tap goes through one SSH connection, to the database's host and port as the SSH server sees them. {enable, host, port, username, private_key, private_key_password}.",
    // null as absent: Meltano passes every declared sub-setting, null where it is not set
    properties: {
      enable: { type: ['boolean', 'null'], default: false, description: 'Connect through the SSH tunnel.' },
      host: { type: ['string', 'null'], description: 'Host of the SSH server (bastion host).' },
      port: { type: ['integer', 'null'], minimum: 1, maximum: 65535, default: 22, description: 'Port of the SSH server.' },
      username: { type: ['string', 'null'], description: 'User on the SSH server.' },
      private_key: {
        type: ['string', 'null'],
        description: "The private key's text (OpenSSH or PEM: RSA, ECDSA, Ed25519), not a path.",
        secret: true,
      },
      private_key_password: { type: ['string', 'null'], description: 'Passphrase of the private key, if it has one.', secret: true },
    },
  },
  filter_schemas: {
    type: 'array',
    items: { type: 'string' },
    description: 'Discover only these schemas (default: all but the system schemas).',
  },
  application_name: { type: 'string', description: 'application_name of the tap session.', default: 'tap-timescaledb' },
  state_every_n_rows: {
    type: 'integer',
    minimum: 1,
    description: 'Emit STATE after this many records of a stream (and at every partition end).',
    default: 10000,
  },
  statement_timeout: {
    type: 'string',
    description: "statement_timeout of the tap's sessions (a PostgreSQL interval, e.g. '30min'; '0' is none).",
    default: '0',
  },
  lock_timeout: {
    type: 'string',
    description: "lock_timeout of the tap's sessions; a read blocked longer than this is retried.",
    default: '10s',
  },
  retry_attempts: {
    type: 'integer',
    minimum: 1,
    maximum: 100,
    description: 'Attempts for a read that fails with a lost connection or a lock timeout.',
    default: 5,
  },
  retry_initial_delay_ms: { type: 'integer', minimum: 0, description: 'First retry delay (doubles each attempt).', default: 500 },
  retry_max_delay_ms: { type: 'integer', minimum: 0, description: 'Largest retry delay.', default: 30000 },
  full_table_order_by_key: {
    type: 'boolean',
    description:
      'Read FULL_TABLE streams with a primary key resumably: in key order (resuming after the last key) where the key follows the physical order, in page ranges otherwise (resuming after the last range). false: one unordered read that an interrupted sync starts again.',
    default: true,
  },
  chunk_prefetch: {
    type: 'boolean',
    default: true,
    description:
      "Read ahead on a second connection while the current part of a stream is written, so the server's latency between parts is hidden: the next chunk of a hypertable (with max_concurrent_chunks 1), the next page range of a keyed table (in the same snapshot, exported). Output order and STATE are unchanged. Set false where a second connection is not allowed. Not on the embedded engine (one connection).",
  },
  decoder: {
    type: 'string',
    enum: ['auto', 'csv'],
    description: "Row decoder: 'auto' uses the fast COPY-text transcoder where every column allows it; 'csv' always uses csv-parse.",
    default: 'auto',
  },
  activate_version: {
    type: 'boolean',
    description:
      'Write ACTIVATE_VERSION messages around FULL_TABLE syncs (targets that know them drop rows of older versions); false for targets that do not (target-jsonl warns on each one).',
    default: true,
  },
  skip_changes: {
    type: 'object',
    additionalProperties: { type: 'string', pattern: '^\\d+:[1-9]\\d*$' },
    description:
      'LOG_BASED streams only: tap_stream_id -> the position of one change to leave out, <tx>:<tx_changes> as the CRITICAL line of a plugin\'s stop printed it (e.g. {"public-orders": "23456789:3"}). Refused when the state is past it; remove it after the run.',
  },
  shard_index: {
    type: 'integer',
    minimum: 0,
    default: 0,
    description:
      'This process reads shard shard_index (0 to shard_count - 1) of every selected stream: several processes, each with its own STATE, read one stream side by side (see docs/sharding.md).',
  },
  shard_count: {
    type: 'integer',
    minimum: 1,
    maximum: 1024,
    default: 1,
    description:
      'Split every selected stream into this many disjoint shards, the same in every process: hypertables and partitioned tables by their chunks and partitions, other tables by a hash of their key. Streams that cannot be split (LOG_BASED, no key) are refused at start. 1: no sharding.',
  },
  plugins: {
    type: 'array',
    description: 'Extra plugins: a module path or package name, with the options the plugin validates.',
    items: {
      type: 'object',
      required: ['module'],
      properties: { module: { type: 'string' }, options: { type: 'object' } },
      additionalProperties: false,
    },
  },
  disable_plugins: {
    type: 'array',
    items: { type: 'string' },
    description: "Names of built-in plugins to turn off (e.g. 'timescaledb', 'compression', 'metrics').",
  },
  batch_config: {
    type: 'object',
    description:
      "Write rows to files and send singer-sdk BATCH messages instead of RECORD lines: {encoding: {format: 'jsonl'|'parquet', compression: 'gzip'|'none'}, storage: {root: 'file:///dir'|'s3://bucket/path', prefix, endpoint_url, region, aws_access_key_id, aws_secret_access_key}, batch_size}.",
    required: ['encoding', 'storage'],
    properties: {
      encoding: {
        type: 'object',
        required: ['format'],
        properties: {
          format: { type: 'string', enum: ['jsonl', 'parquet'] },
          compression: { type: 'string', enum: ['gzip', 'none'], default: 'gzip' },
        },
      },
      storage: {
        type: 'object',
        required: ['root'],
        properties: {
          root: { type: 'string' },
          prefix: { type: 'string', default: '' },
          // s3:// roots only; credentials default to the AWS SDK's chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles)
          endpoint_url: { type: 'string' },
          region: { type: 'string' },
          aws_access_key_id: { type: 'string', secret: true },
          aws_secret_access_key: { type: 'string', secret: true },
        },
      },
      batch_size: { type: 'integer', minimum: 1, default: 1000000 },
    },
  },
};

/** Builds the full config schema from the core's properties and those the plugins add. */
export function buildConfigSchema(extra: Record<string, JsonSchema> = {}): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { ...coreConfigProperties, ...extra },
    additionalProperties: true,
  };
}
