import { constants } from 'node:fs';
import { access, mkdir, open, unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../errors.js';

/** `batch_config` as singer-sdk spells it, validated: where files go and how they are encoded. */
export interface BatchSettings {
  readonly format: 'jsonl' | 'parquet';
  readonly compression: 'gzip' | 'none';
  /** the directory of `storage.root` (file:// only, for now) */
  readonly dir: string;
  /** put before every file name, as singer-sdk's `storage.prefix` */
  readonly prefix: string;
  /** rows per file at most; a hypertable also closes a file at every chunk's end */
  readonly batchSize: number;
}

/** Reads `batch_config` from the raw config (already checked against the schema); undefined without it. */
export function batchSettingsFrom(raw: Readonly<Record<string, unknown>>): BatchSettings | undefined {
  const bc = raw.batch_config as
    | {
        encoding: { format: 'jsonl' | 'parquet'; compression?: 'gzip' | 'none' };
        storage: { root: string; prefix?: string };
        batch_size?: number;
      }
    | undefined;
  if (bc === undefined) return undefined;
  return {
    format: bc.encoding.format,
    compression: bc.encoding.compression ?? 'gzip',
    dir: rootDir(bc.storage.root),
    prefix: bc.storage.prefix ?? '',
    batchSize: bc.batch_size ?? 1_000_000,
  };
}

function rootDir(root: string): string {
  let url: URL;
  try {
    url = new URL(root);
  } catch {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${JSON.stringify(root)} is not a URL; give file:///absolute/dir`,
    );
  }
  if (url.protocol !== 'file:') {
    throw new ConfigurationError(
      `invalid config: batch_config.storage.root ${root}: only file:// roots are supported; give file:///absolute/dir`,
    );
  }
  return fileURLToPath(url);
}

/**
 * Makes sure files can be written under the root before anything is read: creates the directory and
 * writes (then removes) a probe file, so a read-only or missing mount stops the tap with exit 2, not
 * after the first chunk.
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
    throw new ConfigurationError(
      `batch_config.storage.root ${settings.dir} is not writable (${(err as Error).message}); give a directory the tap can create files in`,
    );
  }
}
