import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LineCounter } from './line-counter.js';

/** One process of a pipeline: its stdout feeds the next stage's stdin (the last one's, the counter). */
export interface Stage {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** `stage` run on these CPUs (`taskset -c LIST`), or as it is when no list is given. */
export const pinned = (stage: Stage, cpuList?: string): Stage =>
  cpuList ? { ...stage, cmd: 'taskset', args: ['-c', cpuList, stage.cmd, ...stage.args] } : stage;

/** What one process used, as getrusage reports it after it exits. */
export interface Usage {
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
}

export interface RunResult {
  /** rows counted in the output: RECORD lines, or lines for psql's COPY text and target-jsonl's file */
  readonly rows: number;
  /** bytes of the contender's output (its stdout, or the consumer's file) */
  readonly bytes: number;
  readonly seconds: number;
  /** per stage, in pipeline order */
  readonly usage: readonly Usage[];
  /** stderr of every stage, for chunk counts and errors */
  readonly stderr: string;
  /** the last stdout line that was a STATE message, if any (incremental runs resume from it) */
  readonly lastState?: string;
  /** CPU seconds the whole machine spent during the run (every process: the server's included), from /proc/stat */
  readonly machineCpuSeconds?: number;
}

/**
 * Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal of every core),
 * in seconds; undefined where /proc/stat does not exist. A run's difference includes the database
 * server's work, which no rusage of a contender shows, and whatever else the machine was doing.
 */
export function machineCpu(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const ticks = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

const TIME = '/usr/bin/time';
/**
 * Peak RSS and CPU come from the kernel's rusage of each stage, read by a wrapper that waits for it:
 * GNU time when installed, else a three-line Python wrapper doing the same getrusage(RUSAGE_CHILDREN).
 * Both write "elapsed user sys maxrss_kb" to a file, so the contender's stdout stays untouched.
 */
const PY_TIME =
  'import resource,subprocess,sys\nr=subprocess.call(sys.argv[2:])\nu=resource.getrusage(resource.RUSAGE_CHILDREN)\n' +
  "open(sys.argv[1],'w').write('0 %f %f %d\\n'%(u.ru_utime,u.ru_stime,u.ru_maxrss))\nsys.exit(r)";
export const usageTool = existsSync(TIME) ? 'GNU time (/usr/bin/time)' : 'python getrusage(RUSAGE_CHILDREN)';

function wrapped(stage: Stage, usageFile: string): [string, string[]] {
  if (existsSync(TIME)) return [TIME, ['-f', '%e %U %S %M', '-o', usageFile, stage.cmd, ...stage.args]];
  return ['python3', ['-c', PY_TIME, usageFile, stage.cmd, ...stage.args]];
}

function readUsage(file: string): Usage {
  // GNU time puts "Command exited with non-zero status N" before the figures: the last line holds them
  const line = readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '';
  const [, user, sys, rss] = line.split(' ').map(Number);
  return { cpuSeconds: (user ?? 0) + (sys ?? 0), peakRssMb: (rss ?? 0) / 1024 };
}

/** The compiled bench/count-lines.c when buildCounter() made one; else LineCounter counts here. */
let counterBinary: string | undefined;
export function useCounter(binary: string | undefined): void {
  counterBinary = binary;
}

type Counts = Pick<LineCounter, 'lines' | 'records' | 'bytes' | 'lastState'>;

/** Counts a stream with count-lines in a process of its own, the pipe handed over (no byte passes through here). */
function countElsewhere(binary: string, output: Readable, stateFile: string): Promise<Counts> {
  const child = spawn(binary, [stateFile], { stdio: [output, 'pipe', 'inherit'] });
  output.destroy(); // the counter holds the read end now
  const out: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const [lines, records, bytes] = Buffer.concat(out).toString().trim().split(' ').map(Number);
      if (code !== 0 || bytes === undefined) return reject(new Error(`count-lines exited with ${code}`));
      const lastState = existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : undefined;
      resolve({ lines: lines!, records: records!, bytes, lastState });
    });
  });
}

function countHere(output: Readable): Promise<Counts> {
  const counter = new LineCounter();
  output.on('data', (b: Buffer) => counter.push(b));
  return new Promise((resolve, reject) => {
    output.on('error', reject);
    output.on('end', () => resolve(counter));
  });
}

/**
 * Runs a pipeline, counts its last stage's stdout, and returns wall time, rows, bytes and rusage. The
 * stages' pipes run from process to process: none of their bytes pass through the bench's own process.
 */
export async function runPipeline(
  stages: readonly Stage[],
  options: {
    timeoutMs?: number;
    /** the last stage writes into /dev/null, nothing counts (rows, lines and bytes are 0: the caller knows the rows) */
    discard?: boolean;
  } = {},
): Promise<RunResult & { lines: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tap-bench-run-'));
  const stderr: Buffer[] = [];
  const children: ChildProcess[] = [];
  const started = process.hrtime.bigint();
  const cpuBefore = machineCpu();
  const exits: Promise<number | null>[] = [];
  const devNull = options.discard ? openSync('/dev/null', 'w') : undefined;
  stages.forEach((stage, i) => {
    const [cmd, args] = wrapped(stage, join(dir, `usage-${i}`));
    const previous = children[i - 1]?.stdout;
    const out = devNull !== undefined && i === stages.length - 1 ? devNull : 'pipe';
    const child = spawn(cmd, args, { env: { ...process.env, ...stage.env }, stdio: [previous ?? 'ignore', out, 'pipe'] });
    previous?.destroy();
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    children.push(child);
    exits.push(
      new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => resolve(code));
      }),
    );
  });
  if (devNull !== undefined) closeSync(devNull); // the child holds its own copy
  const last = children.at(-1)!.stdout;
  const counted: Promise<Counts> = !last
    ? Promise.resolve({ lines: 0, records: 0, bytes: 0, lastState: undefined })
    : counterBinary
      ? countElsewhere(counterBinary, last, join(dir, 'last-state'))
      : countHere(last);
  const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), options.timeoutMs ?? 3_600_000);
  const codes = await Promise.all(exits);
  const counts = await counted;
  clearTimeout(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = machineCpu();
  const machineCpuSeconds = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  const err = Buffer.concat(stderr).toString('utf8');
  const failed = codes.findIndex((c) => c !== 0);
  if (failed >= 0) {
    // the reason, where a program names one: a CRITICAL line (Singer taps, this tap) or a Python
    // traceback's exception line; else the last lines
    const lines = err.trim().split('\n');
    const reason = lines.findLast((l) => /CRITICAL|^[\w.]+(Error|Exception)\b/.test(l)) ?? lines.slice(-5).join(' | ');
    throw new Error(`${stages[failed]!.cmd} exited with ${codes[failed]}: ${reason.trim()}`);
  }
  const usage = stages.map((_, i) => readUsage(join(dir, `usage-${i}`)));
  rmSync(dir, { recursive: true, force: true });
  return {
    rows: counts.records,
    lines: counts.lines,
    bytes: counts.bytes,
    seconds,
    usage,
    stderr: err,
    lastState: counts.lastState,
    machineCpuSeconds,
  };
}

/** Counts the lines and bytes of a file a consumer wrote (target-jsonl's output). */
export async function countFile(path: string): Promise<LineCounter> {
  const counter = new LineCounter();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) counter.push(chunk as Buffer);
  return counter;
}

/** Writes a JSON file in a fresh temp folder (configs and catalogs for the contenders). */
export function tmpJson(value: unknown, name: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tap-bench-')), name);
  writeFileSync(path, JSON.stringify(value, null, 1));
  return path;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
