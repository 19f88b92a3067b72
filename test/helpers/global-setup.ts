import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startNativeCluster, stopNativeCluster } from './native-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    nativeUrl: string;
    nativeSkip: string;
    /** the native server preloads TimescaleDB (../shared/timescaledb installed): CREATE EXTENSION works */
    nativeTimescale: boolean;
    nativeTimescaleSkip: string;
    dockerAvailable: boolean;
  }
}

/**
 * Starts a throw-away native PostgreSQL cluster for the run (unless TAP_TEST_NATIVE_URL names one), with
 * TimescaleDB preloaded when it is installed, and says which engines the suites can use. Each test file
 * starts its own embedded TimescaleDB when it needs one.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  project.provide('dockerAvailable', await dockerAvailable());
  let stop = (): void => undefined;
  let url = process.env.TAP_TEST_NATIVE_URL ?? '';
  if (!url) {
    const dir = mkdtempSync(join(tmpdir(), 'tap-pg-'));
    chmodSync(dir, 0o755); // the server runs as the postgres user when we are root
    try {
      url = startNativeCluster(join(dir, 'data')).url;
      stop = () => {
        stopNativeCluster(join(dir, 'data'));
        rmSync(dir, { recursive: true, force: true });
      };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (process.env.CI) throw new Error(`CI needs the native PostgreSQL server: ${(err as Error).message}`);
      const reason = `native PostgreSQL did not start (${(err as Error).message.split('\n')[0]}); apt-get install postgresql-15`;
      project.provide('nativeUrl', '');
      project.provide('nativeSkip', reason);
      project.provide('nativeTimescale', false);
      project.provide('nativeTimescaleSkip', reason);
      return stop;
    }
  }
  project.provide('nativeUrl', url);
  project.provide('nativeSkip', '');
  const timescale = await timescaleOnServer(url);
  project.provide('nativeTimescale', timescale === undefined);
  project.provide('nativeTimescaleSkip', timescale ?? '');
  return stop;
}

/** undefined when the server preloads TimescaleDB, else why not (with the fix). */
async function timescaleOnServer(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ available: boolean; preload: string }>(
      `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
              current_setting('shared_preload_libraries') AS preload`,
    );
    if (!rows[0]!.available)
      return 'TimescaleDB is not installed into the native PostgreSQL: bash ../shared/timescaledb/install.sh (as .ci/run does)';
    if (!/timescaledb/.test(rows[0]!.preload))
      return "the native server does not preload TimescaleDB: shared_preload_libraries = 'timescaledb'";
    return undefined;
  } finally {
    await client.end();
  }
}

/** True when a Docker engine answers (testcontainers' own check). */
async function dockerAvailable(): Promise<boolean> {
  if (process.env.TAP_TEST_NO_DOCKER) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000))]);
    return true;
  } catch {
    return false;
  }
}
