import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { psqlDevNull, tapFiles, tapStage, type Contender, type Target } from './contenders.js';
import { median, pinned, runPipeline } from './measure.js';
import { relate, type ResultRow } from './report.js';
import { alternate, type Log } from './scenarios.js';
import { chunkCounts, TIMESCALE_TABLES, type Sql } from './timescale-tables.js';

/** transcode_workers settings the section compares, with max_concurrent_chunks 2 */
export const WORKER_COUNTS = [0, 1, 2] as const;
const LIMIT = 'psql COPY > /dev/null (limit)';
const tapName = (workers: number): string => `tap, transcode_workers ${workers}`;

/** The tap's own log line at a stream's end (copy-runner.ts transcodeUsage): the workers' and the reading thread's CPU-s. */
const USAGE = /transcode workers: (\d+) threads, ([\d.]+) CPU-s; the reading thread ([\d.]+) CPU-s/;

/** A tap contender that also keeps, per run, the CPU-s its log gives the reading thread and the workers. */
type ThreadedTap = Contender & { threads: { reading: number; workers: number; rows: number }[] };

async function tapWithThreads(target: Target, table: string, workers: number, cpuList: string | undefined): Promise<ThreadedTap> {
  const files = await tapFiles(target, table, { max_concurrent_chunks: 2, transcode_workers: workers });
  const threads: { reading: number; workers: number; rows: number }[] = [];
  return {
    name: tapName(workers),
    table,
    threads,
    run: async () => {
      const r = await runPipeline([pinned(tapStage(files), cpuList)]);
      const m = USAGE.exec(r.stderr);
      if (m) threads.push({ workers: Number(m[2]), reading: Number(m[3]), rows: r.rows });
      else if (workers > 0) throw new Error(`tap with transcode_workers ${workers} logged no thread usage`);
      return r;
    },
  };
}

/** The server's postmaster: the parent of a backend of ours (same machine: the bench's native cluster). */
async function postmasterPid(sql: Sql): Promise<number> {
  const [row] = await sql(`SELECT pg_backend_pid() AS pid`);
  return parentOf(Number(row!.pid));
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The postmaster and its children now (backends, background workers): new backends inherit the postmaster's affinity. */
function serverPids(postmaster: number): number[] {
  const children = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return parentOf(Number(d)) === postmaster;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

/** Sets the CPU affinity of every thread (-a) of the server's processes; a process gone meanwhile is skipped. */
function setAffinity(postmaster: number, cpuList: string): void {
  for (const pid of serverPids(postmaster)) spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

function affinityOf(pid: number): string {
  const r = spawnSync('taskset', ['-p', '-c', String(pid)], { encoding: 'utf8' });
  const list = /list:\s*(\S+)/.exec(r.stdout ?? '')?.[1];
  if (r.status !== 0 || !list) throw new Error(`taskset -p -c ${pid}: ${r.stderr || r.stdout}`);
  return list;
}

/** Why the pinned runs cannot happen here, or undefined. */
export function pinningMissing(): string | undefined {
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return 'taskset not found (util-linux)';
  if (cpus().length < 2) return `${cpus().length} CPU: nothing to pin the server away from`;
  return undefined;
}

/** Per-thread CPU-s per M rows (medians over the runs), the added CPU over transcode_workers 0, for the report's notes. */
function threadNotes(rows: ResultRow[], section: string, contenders: readonly ThreadedTap[]): ResultRow[] {
  const perM = (r: ResultRow | undefined): number | undefined => (r?.cpuSeconds && r.rows ? (r.cpuSeconds / r.rows) * 1e6 : undefined);
  const base = perM(rows.find((r) => r.section === section && r.name === tapName(0)));
  return rows.map((row) => {
    const c = contenders.find((x) => x.name === row.name);
    if (!c || row.skipped) return row;
    const extra: Record<string, string> = {};
    const mine = perM(row);
    if (base !== undefined && mine !== undefined && row.name !== tapName(0))
      extra['CPU-s per M rows over transcode_workers 0'] = `${mine >= base ? '+' : ''}${(mine - base).toFixed(2)}`;
    if (c.threads.length > 0) {
      extra['reading thread CPU-s per M rows'] = median(c.threads.map((t) => (t.reading / t.rows) * 1e6)).toFixed(2);
      extra['worker threads CPU-s per M rows'] = median(c.threads.map((t) => (t.workers / t.rows) * 1e6)).toFixed(2);
    }
    return { ...row, extra: { ...row.extra, ...extra } };
  });
}

/**
 * Issue #18's "scale with the client's cores": max_concurrent_chunks 2 on the native hypertable with
 * transcode_workers 0, 1 and 2, beside psql into /dev/null; then the same with the server's processes
 * pinned to CPU 0 (taskset on the postmaster and its children, restored after) and the tap (and psql) on
 * the other CPUs, so the tap's CPUs are its own. The notes give each run's CPU-s per M rows over
 * transcode_workers 0 and the reading thread's and the workers' own CPU-s per M rows, from the tap's log.
 */
export async function workersSection(target: Target, sql: Sql, rounds: number, log: Log): Promise<ResultRow[]> {
  const table = TIMESCALE_TABLES.hypertable;
  const n = Number((await sql(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  const { chunks, compressed } = await chunkCounts(sql, table);
  const title = `transcode_workers, max_concurrent_chunks 2, native hypertable (${n.toLocaleString('en')} rows, ${chunks} chunks, ${compressed} compressed)`;
  const run = async (section: string, cpuList?: string): Promise<ResultRow[]> => {
    const taps = [];
    for (const w of WORKER_COUNTS) taps.push(await tapWithThreads(target, table, w, cpuList));
    const limit = psqlDevNull(target, table, n, cpuList);
    log(`section: ${section}`);
    const rows = await alternate(section, [limit, ...taps], rounds, log);
    relate(rows, section, LIMIT, tapName(0));
    return threadNotes(rows, section, taps);
  };
  const out = await run(title);
  const missing = pinningMissing();
  const tapCpus = cpus().length === 2 ? '1' : `1-${cpus().length - 1}`;
  const section = `${title}; server pinned to CPU 0, tap and psql to CPU ${tapCpus}`;
  if (missing) return [...out, { section, name: 'every contender', table, skipped: missing }];
  const postmaster = await postmasterPid(sql);
  const before = affinityOf(postmaster);
  setAffinity(postmaster, '0');
  log(`  server (postmaster ${postmaster} and its children) pinned to CPU 0 (was ${before})`);
  try {
    out.push(...(await run(section, tapCpus)));
  } finally {
    setAffinity(postmaster, before);
    log(`  server affinity restored to ${before}`);
  }
  return out;
}
