import { constants } from 'node:fs';
import { access, mkdir, open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../errors.js';
import { checkS3, s3Client, type S3Target } from './s3-storage.js';

/** `batch_config` as singer-sdk spells it, validated: where files go and how they are encoded. */
export interface BatchSettings {
  readonly format: 'jsonl' | 'parquet';
  readonly compression: 'gzip' | 'none';
  /** the directory of a file:// root; for an s3:// root, the local directory files are staged in before upload */
  readonly dir: string;
  /** put before every file name, as singer-sdk's `storage.prefix` */
  readonly prefix: string;
  /** rows per file at most; a hypertable also closes a file at every chunk's end */
  readonly batchSize: number;
  /** set for an s3:// root */
  readonly s3?: S3Target;
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

/** Reads `batch_config` from the raw config (already checked against the schema); undefined without it. */
export function batchSettingsFrom(raw: Readonly<Record<string, unknown>>): BatchSettings | undefined {
  const bc = raw.batch_config as RawBatchConfig | undefined;
  if (bc === undefined) return undefined;
  const s3 = s3Target(bc.storage);
  return {
    format: bc.encoding.format,
    compression: bc.encoding.compression ?? 'gzip',
    // one staging directory per bucket and path, so a resumed run finds (and removes) what a killed one left
    dir: s3 ? join(tmpdir(), 'tap-timescaledb-s3', s3.bucket, s3.keyPrefix.replace(/[^A-Za-z0-9_.-]/g, '_')) : rootDir(bc.storage.root),
    prefix: bc.storage.prefix ?? '',
    batchSize: bc.batch_size ?? 1_000_000,
    s3,
  };
}

function rootUrl(root: string): URL {
  try {
    return new URL(root);
  } catch {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${JSON.stringify(root)} is not a URL; give file:///absolute/dir or s3://bucket/path`,
    );
  }
}

function s3Target(storage: RawBatchConfig['storage']): S3Target | undefined {
  const url = rootUrl(storage.root);
  if (url.protocol !== 's3:') return undefined;
  if (!url.hostname)
    throw new ConfigurationError(`invalid config: batch_config.storage.root ${storage.root} names no bucket; give s3://bucket/path`);
  const path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
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
      `invalid config: batch_config.storage.root ${root}: only file:// and s3:// roots are supported; give file:///absolute/dir or s3://bucket/path`,
    );
  }
  return fileURLToPath(url);
}

/**
 * Makes sure files can be written under the root before anything is read: creates the directory and
 * writes (then removes) a probe file, so a read-only or missing mount stops the tap with exit 2, not
 * after the first chunk; for s3://, the same for the local staging directory and then the bucket.
 */
export async function checkBatchRoot(settings: BatchSettings): Promise<void> {
  const probe = `${settings.dir}/.tap-timescaledb-probe-${process.pid}`;
  try {
    await mkdir(settings.dir, { recursive: true });
    await access(settings.dir, constants.W_OK);
    const fh = await open(probe, 'w');
    await fh.close();
    await unlink(probe);
  } catch (err) {
    const what = settings.s3
      ? `the staging directory ${settings.dir} of batch_config.storage.root`
      : `batch_config.storage.root ${settings.dir}`;
    throw new ConfigurationError(`${what} is not writable (${(err as Error).message}); give a directory the tap can create files in`);
  }
  if (settings.s3) await checkS3(await s3Client(settings.s3), settings.s3);
}
