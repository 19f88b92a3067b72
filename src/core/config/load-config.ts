import { readFile, stat } from 'node:fs/promises';
import { batchSettingsFrom } from '../batch/batch-settings.js';
import { ConfigurationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { MAX_INPUT_BYTES, MAX_INPUT_DEPTH, tooDeep } from '../singer/input-validation.js';
import { configProblems } from './config-checks.js';
import { describePosition, jsonProblem } from './json-position.js';
import { SSL_MODES, type JsonSchema, type SslMode } from './config-schema.js';
import type { ConnectionSettings, SshTunnelSettings, TapConfig } from './tap-config.js';
import { validatorFor } from '../validation/validators.js';

/**
 * Reads a JSON file, naming the file and the fix when it is missing or malformed. No error quotes the
 * file's text (a config holds passwords, and `--plugin-options X=@file` may name any file): a syntax
 * error or too deep a nesting is placed by line and column. `pathInErrors` adds the JSON path of too
 * deep a nesting (its keys: a catalog's or state's field names and stream ids, never a config's).
 */
export async function readJsonFile(
  path: string,
  what: string,
  makeError: (m: string) => Error,
  options: { pathInErrors?: boolean } = {},
): Promise<unknown> {
  let text: string;
  let size: number;
  try {
    size = (await stat(path)).size;
    // a huge file is refused before it is read: a state or catalog is not a data file
    text = size > MAX_INPUT_BYTES ? '' : await readFile(path, 'utf8');
  } catch (err) {
    throw makeError(`cannot read the ${what} file ${path}: ${(err as Error).message}`);
  }
  if (size > MAX_INPUT_BYTES) {
    throw makeError(
      `the ${what} file ${path} is ${size} bytes, more than the ${MAX_INPUT_BYTES} a ${what} file may be; pass the right file`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault: never shown
    const at = jsonProblem(text, MAX_INPUT_DEPTH);
    if (at?.kind === 'depth')
      throw makeError(
        `the ${what} file ${path} nests deeper than ${MAX_INPUT_DEPTH} levels at ${describePosition(at)}; fix the file or pass another`,
      );
    const where = at ? `${at.problem} at ${describePosition(at)}` : 'a syntax error';
    throw makeError(`the ${what} file ${path} is not valid JSON (${where}); fix the file or pass another`);
  }
  const deep = tooDeep(value);
  if (deep !== undefined) {
    const at = jsonProblem(text, MAX_INPUT_DEPTH);
    const position = at ? describePosition(at) : 'a place the scanner could not find';
    const where = options.pathInErrors ? `${deep.slice(0, 200)} (${position})` : position;
    throw makeError(`the ${what} file ${path} nests deeper than ${MAX_INPUT_DEPTH} levels at ${where}; fix the file or pass another`);
  }
  return value;
}

/**
 * Validates a raw config against the schema, listing every problem at once, applies defaults and aliases.
 * Unknown keys are warned about (Meltano adds its own), never fatal.
 */
export function parseConfig(input: unknown, schema: JsonSchema, log?: Logger): TapConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigurationError('the config must be a JSON object of settings');
  }
  const raw: Record<string, unknown> = structuredClone(input as Record<string, unknown>);
  const validate = validatorFor('config', schema);
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'config';
      const allowed = e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join('|')})` : '';
      return `${where} ${e.message}${allowed}`;
    });
    throw new ConfigurationError(`invalid config: ${problems.join('; ')}`);
  }
  const bad = configProblems(raw);
  if (bad.length > 0) throw new ConfigurationError(`invalid config: ${bad.join('; ')}`);
  // batch_config's root and prefix, before anything connects (discovery included)
  batchSettingsFrom(raw);
  const known = new Set(Object.keys((schema.properties as object) ?? {}));
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  if (unknown.length > 0) log?.warn(`config keys not used by the tap (ignored): ${unknown.join(', ')}`);

  const shard = shardFrom(raw, log);
  const connection = connectionFrom(raw);
  const retryAttempts = raw.retry_attempts as number;
  return {
    connection,
    sshTunnel: sshTunnelFrom(raw.ssh_tunnel as Record<string, unknown> | undefined),
    filterSchemas: raw.filter_schemas as string[] | undefined,
    stateEveryNRows: raw.state_every_n_rows as number,
    statementTimeout: raw.statement_timeout as string,
    lockTimeout: raw.lock_timeout as string,
    retry: {
      attempts: retryAttempts,
      initialDelayMs: raw.retry_initial_delay_ms as number,
      maxDelayMs: raw.retry_max_delay_ms as number,
    },
    fullTableOrderByKey: raw.full_table_order_by_key as boolean,
    decoder: raw.decoder as 'auto' | 'csv',
    prefetch: raw.chunk_prefetch !== false,
    // a shard's copy is part of the table: ACTIVATE_VERSION would tell the target to drop the other shards' rows
    activateVersion: raw.activate_version !== false && !shard,
    shard,
    plugins: (raw.plugins as TapConfig['plugins'] | undefined) ?? [],
    disablePlugins: (raw.disable_plugins as string[] | undefined) ?? [],
    raw,
  };
}

/** shard_index and shard_count: undefined for one shard; an index outside the count is refused. */
function shardFrom(raw: Record<string, unknown>, log: Logger | undefined): TapConfig['shard'] {
  const index = (raw.shard_index as number | undefined) ?? 0;
  const count = (raw.shard_count as number | undefined) ?? 1;
  if (index >= count) {
    throw new ConfigurationError(
      `invalid config: shard_index ${index} is not below shard_count ${count}: the shards are numbered 0 to ${count - 1} (give each process its own index, and all of them the same shard_count)`,
    );
  }
  if (count === 1) return undefined;
  if (raw.activate_version !== false)
    log?.warn(
      `shard_count ${count}: no ACTIVATE_VERSION is written (a shard's copy holds only part of a table, and a target that follows ACTIVATE_VERSION would drop the rows the other shards wrote); set activate_version to false to silence this`,
    );
  return { index, count };
}

/** ssh_tunnel as MeltanoLabs tap-postgres reads it: off unless `enable` is true; host, username and private_key then required. */
function sshTunnelFrom(t: Record<string, unknown> | undefined): SshTunnelSettings | undefined {
  if (t?.enable !== true) return undefined;
  const missing = (['host', 'username', 'private_key'] as const).filter((k) => typeof t[k] !== 'string' || t[k] === '');
  if (missing.length > 0) {
    throw new ConfigurationError(
      `invalid config: ssh_tunnel.enable is true but ${missing.map((k) => `ssh_tunnel.${k}`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing: give the SSH server's host, the user on it and the private key's text`,
    );
  }
  let key = t.private_key as string;
  // a key pasted into an environment variable or a .env file often arrives with its newlines as "\n"
  if (!key.includes('\n') && key.includes('\\n')) key = key.replace(/\\n/g, '\n');
  return {
    host: t.host as string,
    port: (t.port as number | undefined) ?? 22,
    username: t.username as string,
    privateKey: key,
    privateKeyPassword: (t.private_key_password as string | undefined) || undefined,
  };
}

function connectionFrom(raw: Record<string, unknown>): ConnectionSettings {
  const base = {
    host: raw.host as string,
    port: raw.port as number,
    user: raw.user as string | undefined,
    password: raw.password as string | undefined,
    database: (raw.database ?? raw.dbname) as string | undefined,
    sslmode: raw.sslmode as SslMode,
    sslRootCert: raw.ssl_root_cert as string | undefined,
    sslCert: raw.ssl_cert as string | undefined,
    sslKey: raw.ssl_key as string | undefined,
    applicationName: raw.application_name as string,
  };
  if (typeof raw.url === 'string') return { ...base, ...fromUrl(raw.url, base.sslmode) };
  const missing = (['user', 'database'] as const).filter((k) => !base[k]);
  if (missing.length > 0) {
    throw new ConfigurationError(
      `invalid config: ${missing.join(', ')} required (or give a single url: postgres://user:password@host:port/database)`,
    );
  }
  return base;
}

function fromUrl(url: string, sslmode: SslMode): Partial<ConnectionSettings> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigurationError('invalid config: url is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    // the rest of the url is not quoted: a url without a scheme (user:password@host/db) parses as one named after the user
    throw new ConfigurationError(
      'invalid config: url must start with postgres:// or postgresql:// (postgres://user:password@host:port/database)',
    );
  }
  const mode = u.searchParams.get('sslmode');
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    throw new ConfigurationError(`invalid config: url sslmode=${mode} is not one of ${SSL_MODES.join('|')}`);
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigurationError(`invalid config: url's ${what} has a malformed %-escape; write a literal % as %25`);
    }
  };
  const database = decode(u.pathname.replace(/^\//, ''), 'database');
  if (!database) throw new ConfigurationError('invalid config: url names no database (postgres://…/database)');
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: u.port ? Number(u.port) : 5432,
    user: u.username ? decode(u.username, 'user') : undefined,
    password: u.password ? decode(u.password, 'password') : undefined,
    database,
    sslmode: (mode as SslMode | null) ?? sslmode,
  };
}
