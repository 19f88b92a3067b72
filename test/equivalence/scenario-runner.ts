import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openScratchDatabases, type ScratchDatabases } from './scratch-databases.js';
import { compareTable, type TableComparison } from './table-compare.js';
import { runPipeline, type PipelineRun } from './tap-pipeline.js';
import type { Action } from './workload-steps.js';

/** What made a scenario fail, and after which action (its index in the action list). */
export interface Failure {
  readonly kind: 'difference' | 'stop' | 'target-error';
  readonly atAction: number;
  readonly message: string;
  readonly comparisons?: readonly TableComparison[];
}

export interface RunnerOptions {
  readonly adminUrl: string;
  readonly tables: readonly string[];
  /** the tap config beyond url and sslmode (state_every_n_rows, …) */
  readonly tapConfig: Record<string, unknown>;
  /** a tap that exits non-zero (not killed) fails the scenario; else the stop is logged and the next run goes on */
  readonly stopIsFailure: boolean;
  readonly log: (line: string) => void;
}

/**
 * Runs a scenario's actions on a fresh source and target: SQL by writers, waits for the scheduler, and
 * tap runs chained by the state target-postgres printed. After each tap run that was not killed, every
 * table is compared; the first difference (or stop, or target failure) ends the scenario.
 */
export class ScenarioRunner {
  private state: unknown = undefined;
  private syncs = 0;

  private constructor(
    readonly dbs: ScratchDatabases,
    private readonly workDir: string,
    private readonly o: RunnerOptions,
  ) {}

  static async open(o: RunnerOptions, setupSql: readonly string[]): Promise<ScenarioRunner> {
    const dbs = await openScratchDatabases(o.adminUrl);
    const runner = new ScenarioRunner(dbs, mkdtempSync(join(tmpdir(), 'tap-equivalence-')), o);
    try {
      for (const sql of setupSql) await dbs.write(sql);
      // policies run only when a step asks: by run_job, or by the scheduler in a 'scheduler' step
      await dbs.write(
        `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'`,
      );
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  /** The compression policy job of each table that has one. */
  async policyJobs(): Promise<Map<string, number>> {
    const { rows } = await this.dbs.source.query<{ t: string; job: number }>(
      `SELECT hypertable_name AS t, job_id AS job FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'`,
    );
    return new Map(rows.map((r) => [r.t, r.job]));
  }

  /** Runs one action; a writer's SQL error is thrown (the caller decides whether the step is dropped). */
  async execute(action: Action, index: number): Promise<Failure | undefined> {
    switch (action.type) {
      case 'sql':
        await this.dbs.write(action.sql);
        return undefined;
      case 'scheduler':
        await this.waitForScheduler(action.job);
        return undefined;
      case 'sync':
        return this.sync(action.killAfterLines, index);
    }
  }

  private async sync(killAfterLines: number | undefined, index: number): Promise<Failure | undefined> {
    const n = ++this.syncs;
    let run: PipelineRun;
    try {
      run = await runPipeline({
        sourceUrl: this.dbs.sourceUrl,
        targetUrl: this.dbs.targetUrl,
        tables: this.o.tables,
        state: this.state,
        killAfterLines,
        tapConfig: this.o.tapConfig,
        // the keyless hypertable's rows are identified by (ts, device): its declared key
        declaredKeys: { 'public-events': ['ts', 'device'] },
        workDir: this.workDir,
      });
    } catch (err) {
      return { kind: 'stop', atAction: index, message: `run ${n}: ${(err as Error).message}` }; // --discover failed
    }
    this.state = run.state;
    const what = `run ${n}: ${run.lines} lines${run.killed ? ` (SIGKILL after line ${killAfterLines})` : ''}`;
    if (run.targetCode !== 0) {
      return {
        kind: 'target-error',
        atAction: index,
        message: `${what}; target-postgres exited ${run.targetCode}: ${tail(run.targetStderr)}`,
      };
    }
    if (run.killed) {
      this.o.log(what);
      await this.slotsIdle(); // the killed tap's session ends a moment later: a restart comes after it
      return undefined;
    }
    if (run.tapCode !== 0) {
      const message = `${what}; the tap stopped with exit ${run.tapCode}: ${run.critical ?? tail(run.tapStderr)}`;
      if (this.o.stopIsFailure) return { kind: 'stop', atAction: index, message };
      this.o.log(`${message} (stops are not failures in this run)`);
      return undefined;
    }
    const comparisons: TableComparison[] = [];
    for (const t of this.o.tables) comparisons.push(await compareTable(this.dbs.source, this.dbs.target, t));
    const differ = comparisons.filter((c) => !c.equal);
    this.o.log(`${what}; ${comparisons.map((c) => `${c.table} ${c.source.rows}${c.equal ? '=' : '≠'}${c.target.rows}`).join(', ')}`);
    if (differ.length === 0) return undefined;
    return {
      kind: 'difference',
      atAction: index,
      message: `${what}; ${differ.map((c) => c.table).join(', ')} differ`,
      comparisons: differ,
    };
  }

  /** Lets the background scheduler run the job once: schedule it every second from now, wait for a finished run, unschedule it. */
  private async waitForScheduler(job: number): Promise<void> {
    const finished = async () => {
      const { rows } = await this.dbs.source.query<{ n: string }>(
        `SELECT coalesce(sum(total_successes + total_failures), 0) AS n FROM timescaledb_information.job_stats WHERE job_id = $1`,
        [job],
      );
      return Number(rows[0]!.n);
    };
    const before = await finished();
    await this.dbs.write(`SELECT alter_job(${job}, scheduled => true, schedule_interval => interval '1 second', next_start => now())`);
    try {
      const deadline = Date.now() + 90_000;
      while ((await finished()) <= before) {
        if (Date.now() > deadline) throw new Error(`the scheduler did not run job ${job} within 90 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await this.dbs.write(`SELECT alter_job(${job}, scheduled => false)`);
    }
  }

  private async slotsIdle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const { rows } = await this.dbs.source.query(`SELECT 1 FROM pg_replication_slots WHERE database = current_database() AND active`);
      if (rows.length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    try {
      await this.dbs.close();
    } finally {
      rmSync(this.workDir, { recursive: true, force: true });
    }
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}
