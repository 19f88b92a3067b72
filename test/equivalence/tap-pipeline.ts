import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectLogBased, withKeys } from '../helpers/log-based.js';
import { TOOLS } from '../helpers/python-tools.js';
import { discover, TAP_BIN } from '../helpers/run-tap.js';

/** One run of `tap | target-postgres` as a Meltano pipeline makes it. */
export interface PipelineRun {
  /** the state for the next run: the last STATE target-postgres printed, else the one this run was given */
  readonly state: unknown;
  readonly tapCode: number | null;
  /** true when the tap was SIGKILLed before it ended */
  readonly killed: boolean;
  /** the tap's CRITICAL line, when it stopped with one */
  readonly critical: string | undefined;
  readonly lines: number;
  readonly targetCode: number | null;
  readonly tapStderr: string;
  readonly targetStderr: string;
}

export interface PipelineOptions {
  readonly sourceUrl: string;
  readonly targetUrl: string;
  /** source tables (schema public) selected LOG_BASED */
  readonly tables: readonly string[];
  readonly state: unknown;
  /** SIGKILL the tap once it has written this many complete lines; the target gets the complete lines written */
  readonly killAfterLines?: number;
  readonly tapConfig?: Record<string, unknown>;
  /** key properties declared in the catalog for tables without a primary key, by stream id */
  readonly declaredKeys?: Readonly<Record<string, readonly string[]>>;
  /** a folder for the run's config, catalog and state files */
  readonly workDir: string;
  readonly timeoutMs?: number;
}

/**
 * Rediscovers the catalog, selects the tables LOG_BASED (as Meltano does before each run), and runs the
 * tap into target-postgres. Without a kill, the tap's stdout is piped into the target as it comes; with
 * one, the tap is SIGKILLed at that line and the target then reads the complete lines written so far,
 * as a pipeline whose tap crashed would have delivered them.
 */
export async function runPipeline(o: PipelineOptions): Promise<PipelineRun> {
  const config = join(o.workDir, 'tap-config.json');
  writeFileSync(config, JSON.stringify({ url: o.sourceUrl, sslmode: 'disable', ...o.tapConfig }));
  const ids = o.tables.map((t) => `public-${t}`);
  const catalog = join(o.workDir, 'catalog.json');
  const selected = selectLogBased(await discover(config), ids);
  // a table without a primary key gets the key the tap's refusal names: columns that identify a row,
  // declared in the catalog (its replica identity is FULL), as a user's Meltano `metadata:` would
  for (const [id, keys] of Object.entries(o.declaredKeys ?? {})) if (ids.includes(id)) withKeys(id, keys)(selected);
  writeFileSync(catalog, JSON.stringify(selected));
  const targetConfig = join(o.workDir, 'target-config.json');
  writeFileSync(
    targetConfig,
    JSON.stringify({
      sqlalchemy_url: o.targetUrl.replace(/^postgres(ql)?:/, 'postgresql+psycopg:'),
      default_target_schema: 'loaded',
      add_record_metadata: true,
    }),
  );
  const args = ['--config', config, '--catalog', catalog];
  if (o.state !== undefined) {
    const stateFile = join(o.workDir, 'state.json');
    writeFileSync(stateFile, JSON.stringify(o.state));
    args.push('--state', stateFile);
  }

  const tap = spawn(process.execPath, [TAP_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const target = spawn(TOOLS.targetPostgres, ['--config', targetConfig], { stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => {
    tap.kill('SIGKILL');
    target.kill('SIGKILL');
  }, o.timeoutMs ?? 300_000);
  const tapStderr: Buffer[] = [];
  const targetOut: Buffer[] = [];
  const targetErr: Buffer[] = [];
  tap.stderr.on('data', (b: Buffer) => tapStderr.push(b));
  target.stdout.on('data', (b: Buffer) => targetOut.push(b));
  target.stderr.on('data', (b: Buffer) => targetErr.push(b));
  target.stdin.on('error', () => undefined); // a target that died early: its exit code says so
  const targetExit = new Promise<number | null>((resolve) =>
    target.on('close', (code) => {
      tap.stdout.resume(); // a target gone early must not leave the tap blocked on a full pipe
      resolve(code);
    }),
  );

  let lines = 0;
  let killed = false;
  let held = ''; // with a kill planned: what the tap wrote, until it ends or is killed
  tap.stdout.on('data', (b: Buffer) => {
    const text = b.toString('utf8');
    if (o.killAfterLines === undefined) {
      lines += count(text);
      if (!target.stdin.write(b)) {
        tap.stdout.pause(); // backpressure: the tap waits for the target, as in a shell pipe
        target.stdin.once('drain', () => tap.stdout.resume());
      }
      return;
    }
    if (killed) return;
    held += text;
    if (count(held) >= o.killAfterLines) {
      killed = true;
      tap.kill('SIGKILL');
    }
  });
  try {
    const tapCode = await new Promise<number | null>((resolve) => tap.on('close', (code) => resolve(code)));
    if (o.killAfterLines !== undefined) {
      const complete = held.slice(0, held.lastIndexOf('\n') + 1);
      lines = count(complete);
      target.stdin.write(complete);
    }
    target.stdin.end();
    const targetCode = await targetExit;
    const stderr = Buffer.concat(tapStderr).toString('utf8');
    return {
      state: lastTargetState(Buffer.concat(targetOut).toString('utf8')) ?? o.state,
      tapCode,
      killed,
      critical: stderr.split('\n').find((l) => l.startsWith('CRITICAL')),
      lines,
      targetCode,
      tapStderr: stderr,
      targetStderr: Buffer.concat(targetErr).toString('utf8'),
    };
  } finally {
    clearTimeout(timer);
    if (tap.exitCode === null && tap.signalCode === null) tap.kill('SIGKILL');
    if (target.exitCode === null && target.signalCode === null) target.kill('SIGKILL');
  }
}

function count(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** target-postgres prints each state it has made durable as one JSON line (the value, or a STATE message). */
function lastTargetState(stdout: string): unknown {
  const states = stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = states.at(-1);
  return last && last.type === 'STATE' ? last.value : last;
}
