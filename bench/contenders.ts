import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, cpSync, existsSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { REPO } from './data.js';
import { countFile, pinned, runPipeline, tmpJson, type RunResult, type Stage } from './measure.js';

/** Where a contender connects. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly url: string;
}

/** A thing to measure: one or more runs of a pipeline whose rows are counted from its output. */
export interface Contender {
  readonly name: string;
  /** what it reads (for the table) */
  readonly table: string;
  run(): Promise<RunResult>;
  /** a note for the report (which consumer, which subset) */
  readonly note?: string;
}

export const PSQL = '/usr/lib/postgresql/15/bin/psql';
let TAP = join(REPO, 'bin/tap-timescaledb');
/** The tap's executable the bench runs (a snapshot of the build once snapshotTap ran). */
export const tapPath = (): string => TAP;

/**
 * Runs the tap from a copy of the build taken now: other developers rebuild dist/ in this shared tree,
 * and a run must not pick up a half-written file or a different build halfway through. Returns the
 * snapshot's folder.
 */
export function snapshotTap(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tap-bench-build-'));
  cpSync(join(REPO, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
  cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  TAP = join(dir, 'bin/tap-timescaledb');
  return dir;
}
/** The Python programs bench/python-taps.sh installs: venv and executable */
const PY_TAPS = {
  pipelinewise: { dir: join(REPO, '.venv-bench-pipelinewise'), bin: 'tap-postgres' },
  meltanolabs: { dir: join(REPO, '.venv-bench-meltanolabs'), bin: 'tap-postgres' },
  'target-jsonl': { dir: join(REPO, '.venv-target-jsonl'), bin: 'target-jsonl' },
} as const;
const TARGET_JSONL = join(PY_TAPS['target-jsonl'].dir, 'bin', PY_TAPS['target-jsonl'].bin);

/** bench/line-consumer.ts, built: the Node consumer that JSON.parses every line */
const LINE_CONSUMER = join(REPO, 'dist/bench/line-consumer.js');

type Catalog = {
  streams: {
    tap_stream_id: string;
    table_name?: string;
    stream?: string;
    metadata: { breadcrumb: string[]; metadata: Record<string, unknown> }[];
  }[];
};

export type Method = 'FULL_TABLE' | 'INCREMENTAL' | 'LOG_BASED';

/**
 * Marks one table selected in a catalog any of the three taps discovered (matched on schema-name and
 * table name), with its replication method at breadcrumb [] and every readable column selected.
 */
export function selectTable(catalog: Catalog, qualified: string, method: Method, key?: string): Catalog {
  const [schema, table] = qualified.split('.') as [string, string];
  let found = false;
  for (const entry of catalog.streams) {
    const root = entry.metadata.find((m) => m.breadcrumb.length === 0)!;
    const hit = (entry.table_name ?? entry.stream) === table && root.metadata['schema-name'] === schema;
    root.metadata.selected = hit;
    if (!hit) continue;
    found = true;
    root.metadata['replication-method'] = method;
    if (key) root.metadata['replication-key'] = key;
    for (const m of entry.metadata) if (m.breadcrumb.length === 2 && m.metadata.inclusion !== 'unsupported') m.metadata.selected = true;
  }
  if (!found)
    throw new Error(`no stream for ${qualified} in the discovered catalog (${catalog.streams.map((s) => s.tap_stream_id).join(', ')})`);
  return catalog;
}

/**
 * Discovery output of a tap. Asynchronous on purpose: the embedded TimescaleDB is served by this very
 * process, so a synchronous child would wait on a server that cannot answer.
 */
export async function discover(cmd: string, args: string[]): Promise<Catalog> {
  const { stdout } = await promisify(execFile)(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as Catalog;
}

/** This tap's config and discovered catalog with `table` selected. */
export async function tapFiles(
  target: Target,
  table: string,
  extra: Record<string, unknown> = {},
  method: Method = 'FULL_TABLE',
  key?: string,
): Promise<{ config: string; catalog: string }> {
  const config = tmpJson({ url: target.url, sslmode: 'disable', ...extra }, 'config.json');
  const discovered = await discover(process.execPath, [TAP, '--config', config, '--discover']);
  return { config, catalog: tmpJson(selectTable(discovered, table, method, key), 'catalog.json') };
}

export function tapStage(files: { config: string; catalog: string }, env: Record<string, string> = {}, state?: string): Stage {
  return {
    cmd: process.execPath,
    args: [TAP, '--config', files.config, '--catalog', files.catalog, ...(state ? ['--state', state] : [])],
    env,
  };
}

/** The limit: PostgreSQL's own COPY to a client that does nothing with the bytes. */
export function psqlCopy(target: Target, table: string): Contender {
  return {
    name: 'psql COPY (limit)',
    table,
    run: async () => {
      // no SSL: the embedded engine's socket does not speak it, and the tap's config disables it too
      const url = `${target.url}${target.url.includes('?') ? '&' : '?'}sslmode=disable`;
      const r = await runPipeline([{ cmd: PSQL, args: ['-X', '-q', '-d', url, '-c', `COPY (SELECT * FROM ${table}) TO STDOUT`] }]);
      return { ...r, rows: r.lines };
    },
  };
}

/**
 * The limit as issue #18 sets it: psql's COPY into /dev/null, which takes the bytes as fast as the kernel
 * can (a pipe to a counter takes them 4 kB at a time at psql's pace). /dev/null cannot count, so the rows
 * are the server's `count(*)`, taken once beforehand; the `psql COPY | count-lines` line beside it shows
 * that psql's output holds that many lines. With `cpuList`, psql runs on those CPUs only (taskset).
 */
export function psqlDevNull(target: Target, table: string, rows: number, cpuList?: string): Contender {
  return {
    name: 'psql COPY > /dev/null (limit)',
    table,
    note: `rows: the server's count(*) (${rows.toLocaleString('en')}), /dev/null cannot count`,
    run: async () => {
      const url = `${target.url}${target.url.includes('?') ? '&' : '?'}sslmode=disable`;
      const args = ['-X', '-q', '-d', url, '-c', `COPY (SELECT * FROM ${table}) TO STDOUT`];
      const r = await runPipeline([pinned({ cmd: PSQL, args }, cpuList)], { discard: true });
      return { ...r, rows };
    },
  };
}

/** psql's COPY into the line counter: its lines are the rows (a second line beside the /dev/null limit). */
export function psqlCounted(target: Target, table: string): Contender {
  return { ...psqlCopy(target, table), name: 'psql COPY | count-lines' };
}

export async function tapContender(
  name: string,
  target: Target,
  table: string,
  extra: Record<string, unknown> = {},
  note?: string,
): Promise<Contender> {
  const files = await tapFiles(target, table, extra);
  return { name, table, note, run: () => runPipeline([tapStage(files)]) };
}

/** Whether bench/python-taps.sh built target-jsonl, the real Singer target of the subset section (checked after it ran). */
export const targetJsonlInstalled = (): boolean => existsSync(TARGET_JSONL);

/**
 * The tap piped into a consumer that parses every line: a Node process that `JSON.parse`s each
 * message and counts the records (fast enough to show the tap's own throughput into a pipe), or
 * target-jsonl (a real Python Singer target, which writes a file; its lines are the rows).
 */
export async function tapPiped(target: Target, table: string, consumer: 'node' | 'target-jsonl'): Promise<Contender> {
  const files = await tapFiles(target, table);
  const note = "RSS and CPU are the tap's; the consumer's are in the JSON (runs[].usage[1])";
  if (consumer === 'node') {
    return {
      name: 'tap | node consumer',
      table,
      note: `consumer: bench/line-consumer.ts (JSON.parse per line); ${note}`,
      run: async () => {
        const r = await runPipeline([tapStage(files), { cmd: process.execPath, args: [LINE_CONSUMER] }]);
        return { ...r, ...consumerCount(r.stderr) };
      },
    };
  }
  return {
    name: 'tap | target-jsonl',
    table,
    note: `consumer: target-jsonl 0.1.4 (Python); ${note}`,
    run: async () => {
      const out = mkdtempSync(join(tmpdir(), 'tap-bench-jsonl-'));
      const config = tmpJson({ destination_path: out, do_timestamp_file: false }, 'target.json');
      const r = await runPipeline([tapStage(files), { cmd: TARGET_JSONL, args: ['--config', config] }]);
      let rows = 0;
      let bytes = 0;
      for (const f of readdirSync(out)) {
        const c = await countFile(join(out, f));
        rows += c.lines;
        bytes += c.bytes;
      }
      rmSync(out, { recursive: true, force: true });
      return { ...r, rows, bytes };
    },
  };
}

/**
 * The node consumer alone, reading a recording of the tap's output from a file: the consumer's own
 * speed with no producer and no database server running, which bounds what `tap | node consumer` can
 * reach. The recording is made once, before the runs (deleted with `dispose`).
 */
export async function consumerAlone(target: Target, table: string): Promise<Contender & { dispose(): void }> {
  const files = await tapFiles(target, table);
  const dir = mkdtempSync(join(tmpdir(), 'tap-bench-recording-'));
  const recording = join(dir, 'records.jsonl');
  const stage = tapStage(files);
  const fd = openSync(recording, 'w');
  try {
    // asynchronous: the embedded engine would be served by this process (see discover)
    await new Promise<void>((resolve, reject) => {
      const child = spawn(stage.cmd, stage.args, { stdio: ['ignore', fd, 'ignore'] });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`recording the tap's output: exit ${code}`))));
    });
  } finally {
    closeSync(fd);
  }
  return {
    name: "node consumer alone (the tap's output, from a file)",
    table,
    note: "the consumer's own speed: no tap, no server; bounds tap | node consumer",
    run: async () => {
      const r = await runPipeline([{ cmd: process.execPath, args: [LINE_CONSUMER, recording] }]);
      return { ...r, ...consumerCount(r.stderr) };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function consumerCount(stderr: string): { rows: number; bytes: number } {
  const m = /line-consumer: (\d+) records, (\d+) bytes/.exec(stderr);
  if (!m) throw new Error(`the line consumer printed no count: ${stderr.slice(-300)}`);
  return { rows: Number(m[1]), bytes: Number(m[2]) };
}

/** Why a Python program cannot run here, or undefined when bench/python-taps.sh installed it. */
export function pythonTapMissing(which: keyof typeof PY_TAPS): string | undefined {
  const { dir, bin } = PY_TAPS[which];
  if (existsSync(join(dir, 'bin', bin)) && existsSync(join(dir, '.stamp'))) return undefined;
  const failed = join(REPO, '.tmp', `${basename(dir)}.failed`); // bench/python-taps.sh leaves pip's reason there
  if (existsSync(failed)) return `not installable: ${readFileSync(failed, 'utf8').trim().replace(/\s+/g, ' ').slice(0, 200)}`;
  return 'not installed: run bash bench/python-taps.sh';
}

/**
 * pipelinewise-tap-postgres (singer-python, psycopg2) and MeltanoLabs' tap-postgres (singer-sdk,
 * SQLAlchemy), each discovering the subset's schema itself and reading the one table FULL_TABLE.
 */
export async function pythonTap(
  which: 'pipelinewise' | 'meltanolabs',
  target: Target,
  table: string,
  note = 'Python taps read the subset table only, to keep the run short: compare rows/s',
): Promise<Contender & { streams: string[] }> {
  const bin = join(PY_TAPS[which].dir, 'bin', PY_TAPS[which].bin);
  const schema = table.split('.')[0]!;
  const base = { host: target.host, port: target.port, user: 'postgres', password: 'postgres' };
  const config =
    which === 'pipelinewise'
      ? tmpJson({ ...base, dbname: target.database, filter_schemas: schema }, 'config.json')
      : tmpJson({ ...base, database: target.database, filter_schemas: [schema] }, 'config.json');
  const discovered = await discover(bin, ['--config', config, '--discover']);
  const catalog = tmpJson(selectTable(discovered, table, 'FULL_TABLE'), 'catalog.json');
  const flag = which === 'pipelinewise' ? '--properties' : '--catalog';
  return {
    name: which === 'pipelinewise' ? 'pipelinewise-tap-postgres' : 'MeltanoLabs tap-postgres',
    table,
    note,
    /** every stream the tap's own discovery listed in the table's schema */
    streams: discovered.streams.map((s) => s.tap_stream_id),
    run: () => runPipeline([{ cmd: bin, args: ['--config', config, flag, catalog] }]),
  };
}
