import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Catalog, CatalogEntry } from '../../src/core/singer/catalog.js';

export const TAP_BIN = resolve(__dirname, '../../bin/tap-timescaledb');

export interface TapRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed line by line (throws if a line is not JSON: stdout carries only Singer messages) */
  readonly messages: Record<string, any>[];
}

/** Writes a value as a JSON file in a fresh temp folder and returns its path. */
export function tmpJson(value: unknown, name = 'file.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tap-test-'));
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

/** Runs the built CLI as a child process, as Meltano or a shell would. */
export function runTap(args: string[], options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<TapRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TAP_BIN, ...args], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      resolvePromise({
        code,
        signal,
        stdout,
        stderr: Buffer.concat(err).toString('utf8'),
        get messages() {
          return parseMessages(stdout);
        },
      });
    });
  });
}

export function parseMessages(stdout: string): Record<string, any>[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`stdout line ${i + 1} is not JSON: ${l.slice(0, 200)}`);
      }
    });
}

export interface Selection {
  /**
   * Without it, FULL_TABLE: the suites written before discovery chose defaults (and those written in
   * parallel with that change) mean FULL_TABLE by `{}`. `discovered: true` keeps discovery's own method.
   */
  method?: 'FULL_TABLE' | 'INCREMENTAL';
  /** keep the replication-method and replication-key discovery wrote, as a user who only selects does */
  discovered?: boolean;
  key?: string;
  columns?: string[];
}

/** Marks streams selected in a discovered catalog, as a user or Meltano would. */
export function select(catalog: Catalog, streams: Record<string, Selection>): Catalog {
  const out = structuredClone(catalog);
  for (const entry of out.streams) {
    const sel = streams[entry.tap_stream_id];
    const root = entry.metadata.find((m) => m.breadcrumb.length === 0)!;
    root.metadata.selected = sel !== undefined;
    if (!sel) continue;
    if (sel.method || !sel.discovered) root.metadata['replication-method'] = sel.method ?? 'FULL_TABLE';
    if (sel.key) root.metadata['replication-key'] = sel.key;
    if (sel.columns) {
      for (const m of entry.metadata) {
        if (m.breadcrumb.length === 2) m.metadata.selected = sel.columns.includes(m.breadcrumb[1]!);
      }
    }
  }
  return out;
}

export function records(messages: Record<string, any>[], stream?: string): Record<string, any>[] {
  return messages.filter((m) => m.type === 'RECORD' && (!stream || m.stream === stream)).map((m) => m.record);
}

export function lastState(messages: Record<string, any>[]): Record<string, any> | undefined {
  return messages.filter((m) => m.type === 'STATE').at(-1)?.value;
}

export function streamEntry(catalog: Catalog, id: string): CatalogEntry {
  const e = catalog.streams.find((s) => s.tap_stream_id === id);
  if (!e) throw new Error(`no stream ${id} in catalog: ${catalog.streams.map((s) => s.tap_stream_id).join(', ')}`);
  return e;
}

/** Runs --discover and returns the catalog (the one output of the tap that is not line-delimited). */
export async function discover(config: string): Promise<Catalog> {
  const run = await runTap(['--config', config, '--discover']);
  if (run.code !== 0) throw new Error(`--discover failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Catalog;
}

/**
 * Runs the CLI and SIGKILLs it as soon as `stop` returns true for a complete stdout line, as a crash
 * would: what it wrote before is all a resumed run gets. Returns the complete lines written.
 */
export function runTapUntilKilled(
  args: string[],
  stop: (message: Record<string, any>, index: number) => boolean,
  options: { env?: Record<string, string> } = {},
): Promise<{ messages: Record<string, any>[]; killed: boolean; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TAP_BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const messages: Record<string, any>[] = [];
    let rest = '';
    let killed = false;
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdout.on('data', (b: Buffer) => {
      if (killed) return;
      const lines = (rest + b.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const m = JSON.parse(line);
        messages.push(m);
        if (stop(m, messages.length - 1)) {
          killed = true;
          child.kill('SIGKILL');
          break;
        }
      }
    });
    child.on('error', reject);
    child.on('close', () => resolvePromise({ messages, killed, stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** The DEBUG lines the chunk reader logs with each statement it sends, one per chunk read (run with TAP_LOG_LEVEL=debug). */
export function chunkReads(stderr: string, stream: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith(`DEBUG ${stream}: chunk `));
}
