import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNativeCluster, stopNativeCluster } from './native-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    nativeUrl: string;
    nativeSkip: string;
  }
}

/**
 * Starts a throw-away native PostgreSQL cluster for the run (unless TAP_TEST_NATIVE_URL names one) and
 * builds nothing else: each test file starts its own embedded TimescaleDB when it needs one.
 */
export default function setup(project: TestProject): () => void {
  if (process.env.TAP_TEST_NATIVE_URL) {
    project.provide('nativeUrl', process.env.TAP_TEST_NATIVE_URL);
    project.provide('nativeSkip', '');
    return () => undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tap-pg-'));
  chmodSync(dir, 0o755); // the server runs as the postgres user when we are root
  try {
    const { url } = startNativeCluster(join(dir, 'data'));
    project.provide('nativeUrl', url);
    project.provide('nativeSkip', '');
  } catch (err) {
    if (process.env.CI) throw new Error(`CI needs the native PostgreSQL server: ${(err as Error).message}`);
    project.provide('nativeUrl', '');
    project.provide('nativeSkip', `native PostgreSQL did not start (${(err as Error).message.split('\n')[0]}); apt-get install postgresql-15`);
    return () => rmSync(dir, { recursive: true, force: true });
  }
  return () => {
    stopNativeCluster(join(dir, 'data'));
    rmSync(dir, { recursive: true, force: true });
  };
}
