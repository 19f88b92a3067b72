import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigurationError } from '../errors.js';
import { privateStagingDir, probeInChild, stagingBase, withTimeLimit } from './batch-root.js';
import { checkS3, s3Client, type S3Target } from './s3-storage.js';

/** `batch_config` as singer-sdk spells it, validated: where files go and how they are encoded. */
export interface BatchSettings {
  readonly format: 'jsonl' | 'parquet';
  readonly compression: 'gzip' | 'none';
  /** the directory of a file:// root; for an s3:// root, the local directory files are staged in before upload */
  readonly dir: string;
  /** put before every file name, as singer-sdk's `storage.prefix`: a name part, never a path */
  readonly prefix: string;
  /** rows per file at most; a hypertable also closes a file at every chunk's end */
  readonly batchSize: number;
  /** set for an s3:// root */
  readonly s3?: S3Target;
  /** for an s3:// root: the private directory (mode 0700, the tap's own) that holds `dir` */
  readonly staging?: string;
  /** mode of the files written: 0600 for staged files, the umask's default (undefined) under a file:// root */
  readonly fileMode?: number;
}

interface RawBatchConfig {
  encoding: { format: 'jsonl' | 'parquet'; compression?: 'gzip' | 'none' };
  storage: {
    root: string;
    prefix?: string;
    endpoint_url?: string;
    region?: string;
    aws_access_key_id?: string;
    aws_secret_access_key?: string;
  };
  batch_size?: number;
}

/**
 * Reads `batch_config` from the raw config (already checked against the schema); undefined without it.
 * Refuses (exit 2, before connecting) a prefix or root that would put files outside the root.
 */
export function batchSettingsFrom(raw: Readonly<Record<string, unknown>>): BatchSettings | undefined {
  const bc = raw.batch_config as RawBatchConfig | undefined;
  if (bc === undefined) return undefined;
  // shards of one stream never share file names: a shard's start removes the unfinished files of its own name only
  const count = (raw.shard_count as number | undefined) ?? 1;
  const shard = count > 1 ? `shard-${(raw.shard_index as number | undefined) ?? 0}-of-${count}-` : '';
  const prefix = checkPrefix(bc.storage.prefix ?? '') + shard;
  const s3 = s3Target(bc.storage);
  const staging = s3 ? stagingBase(tmpdir()) : undefined;
  return {
    format: bc.encoding.format,
    compression: bc.encoding.compression ?? 'gzip',
    // one staging directory per bucket and path, so a resumed run finds (and removes) what a killed one left
    dir: staging && s3 ? join(staging, s3.bucket, s3.keyPrefix.replace(/[^A-Za-z0-9_.-]/g, '_')) : rootDir(bc.storage.root),
    prefix,
    batchSize: bc.batch_size ?? 1_000_000,
    s3,
    staging,
    fileMode: s3 ? 0o600 : undefined,
  };
}

/**
 * The prefix is joined to each file name (and, for s3://, to each key): a `/` or `..` in it wrote files
 * outside the root (`../` left a file:// root; S3 servers drop the `../` of a key, so the file landed
 * elsewhere in the bucket than its BATCH said).
 */
function checkPrefix(prefix: string): string {
  if (/[/\\]/.test(prefix) || prefix.includes('..')) {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.prefix ${JSON.stringify(prefix)} may not hold '/', '\\' or '..': it is put before each file name, inside the root; give a name part such as "nightly-", and a sub-folder in storage.root (file:///data/batches/nightly, s3://bucket/path/nightly)`,
    );
  }
  return prefix;
}

/** The root as the log may show it: without a user and password in it. */
function shown(root: string): string {
  return root.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

function rootUrl(root: string): URL {
  let url: URL;
  try {
    url = new URL(root);
  } catch {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${JSON.stringify(shown(root))} is not a URL; give file:///absolute/dir or s3://bucket/path`,
    );
  }
  if (url.username || url.password) {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${shown(root)} holds credentials (user:password@); remove them and give storage.aws_access_key_id and storage.aws_secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`,
    );
  }
  return url;
}

function s3Target(storage: RawBatchConfig['storage']): S3Target | undefined {
  const url = rootUrl(storage.root);
  if (url.protocol !== 's3:') return undefined;
  if (!url.hostname)
    throw new ConfigurationError(`invalid config: batch_config.storage.root ${storage.root} names no bucket; give s3://bucket/path`);
  // the bucket also names the local staging directory: a name, never a path
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(url.hostname) || url.hostname.includes('..')) {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${storage.root}: ${JSON.stringify(url.hostname)} is not a bucket name (letters, digits, '.', '-', '_'); give s3://bucket/path`,
    );
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  } catch {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${storage.root} has a malformed %-escape; write a literal % as %25`,
    );
  }
  // URL parsing removes a literal `..` segment, but not one spelled with %2F; S3 servers would drop it
  if (path.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${storage.root}: its path may not hold '.' or '..' segments; give the path as the keys should start, s3://bucket/path`,
    );
  }
  return {
    bucket: url.hostname,
    keyPrefix: path ? `${path}/` : '',
    endpoint: storage.endpoint_url,
    region: storage.region,
    accessKeyId: storage.aws_access_key_id,
    secretAccessKey: storage.aws_secret_access_key,
  };
}

function rootDir(root: string): string {
  const url = rootUrl(root);
  if (url.protocol !== 'file:') {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${shown(root)}: only file:// and s3:// roots are supported; give file:///absolute/dir or s3://bucket/path`,
    );
  }
  // `file:relative/dir` and `file://relative/dir` parse as /relative/dir: a relative path is not a file URL
  if (!/^file:\/\/(localhost)?\/(?!\/)/i.test(root)) {
    const path = root.replace(/^file:\/*/i, '');
    const here = path ? ` (${pathToFileURL(resolve(path)).href} for ${path} under the current directory)` : '';
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${shown(root)} is not an absolute file URL: give file:/// and the absolute path${here}`,
    );
  }
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new ConfigurationError(`invalid config: batch_config.storage.root ${root}: ${(err as Error).message}; give file:///absolute/dir`);
  }
}

/**
 * Makes sure files can be written under the root before anything is read: creates the directory and
 * writes (then removes) a probe file, so a read-only or missing mount stops the tap with exit 2, not
 * after the first chunk; for s3://, the same for the private staging directory and then the bucket.
 * Each check has a time limit (TAP_BATCH_ROOT_TIMEOUT_MS, 30 s): a hung mount, or an endpoint that
 * accepts and never answers, stops the tap with exit 2 instead of leaving it silent.
 */
export async function checkBatchRoot(settings: BatchSettings): Promise<void> {
  const ms = rootTimeoutMs();
  const what = settings.s3
    ? `the staging directory ${settings.dir} of batch_config.storage.root`
    : `batch_config.storage.root ${settings.dir}`;
  if (settings.staging) await privateStagingDir(settings.staging);
  try {
    await probeInChild(
      settings.dir,
      settings.staging ? 0o700 : undefined,
      ms,
      () =>
        new ConfigurationError(
          `${what}: creating it and writing a probe file did not finish within ${ms / 1000} s (a hung mount?); give a directory on a file system that answers, or raise TAP_BATCH_ROOT_TIMEOUT_MS`,
        ),
    );
  } catch (err) {
    if (err instanceof ConfigurationError) throw err;
    throw new ConfigurationError(`${what} is not writable (${(err as Error).message}); give a directory the tap can create files in`);
  }
  const s3 = settings.s3;
  if (s3) {
    const where = `s3://${s3.bucket}/${s3.keyPrefix}`;
    await withTimeLimit(
      s3Client(s3).then((client) => checkS3(client, s3)),
      ms,
      () =>
        new ConfigurationError(
          `batch_config.storage.root ${where}: no answer within ${ms / 1000} s from ${s3.endpoint ?? 'AWS S3'}; check batch_config.storage.endpoint_url and the network (or raise TAP_BATCH_ROOT_TIMEOUT_MS)`,
        ),
    );
  }
}

function rootTimeoutMs(): number {
  const ms = Number(process.env.TAP_BATCH_ROOT_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 30_000;
}
