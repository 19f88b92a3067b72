import type { Feature } from './features.js';
import { Prng } from './prng.js';
import { formatFailure } from './failure-report.js';
import { ScenarioRunner, type Failure, type RunnerOptions } from './scenario-runner.js';
import { describeAction, WorkloadGenerator, type Action } from './workload-steps.js';
import { createTableSql, DAY0, insertSql, tableModels, type TableModel } from './workload-tables.js';

export interface CheckOptions {
  /** the admin URL of a server with TimescaleDB preloaded and wal_level = logical */
  readonly adminUrl: string;
  readonly seed: number;
  readonly features: readonly Feature[];
  /** how many writer steps to draw (tap runs come between them) */
  readonly steps: number;
  /** a clear stop of the tap (non-zero exit) fails the check (default true) */
  readonly stopIsFailure?: boolean;
  /** how long shrinking a failure may take, in ms (0: no shrinking) */
  readonly shrinkBudgetMs?: number;
  readonly log?: (line: string) => void;
}

export interface CheckResult {
  readonly seed: number;
  readonly features: readonly Feature[];
  readonly actions: readonly Action[];
  readonly failure?: Failure;
  /** the shortest failing action list shrinking found, with its failure */
  readonly shrunk?: { readonly actions: readonly Action[]; readonly failure: Failure; readonly replays: number };
  /** the failure printed: seed, features, numbered steps, first differing keys, shrunk steps */
  readonly report?: string;
  readonly ms: number;
}

/** What a scenario is made of besides its actions: drawn from the seed, so a replay rebuilds it exactly. */
interface Scenario {
  readonly tables: TableModel[];
  readonly setupSql: string[];
  readonly tapConfig: Record<string, unknown>;
}

/**
 * The randomized CDC equivalence check: builds a seeded workload over the source tables, runs the tap
 * into target-postgres between its steps (some runs killed and resumed), compares the target with the
 * source after each run, and on a difference prints the seed and the steps and shrinks them.
 */
export async function checkEquivalence(o: CheckOptions): Promise<CheckResult> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const rng = new Prng(o.seed);
  const scenario = buildScenario(rng, o.features);
  const runnerOptions: RunnerOptions = {
    adminUrl: o.adminUrl,
    tables: scenario.tables.map((t) => t.name),
    tapConfig: scenario.tapConfig,
    stopIsFailure: o.stopIsFailure ?? true,
    log: (line) => log(`seed ${o.seed}: ${line}`),
  };
  const actions: Action[] = [];
  let failure: Failure | undefined;
  const runner = await ScenarioRunner.open(runnerOptions, scenario.setupSql);
  try {
    for (const [table, job] of await runner.policyJobs()) scenario.tables.find((t) => t.name === table)!.policyJob = job;
    const generator = new WorkloadGenerator(rng, o.features, scenario.tables);
    let copied = false; // a run has ended normally: every stream's initial copy is done
    const sync = (last: boolean): Action => {
      const may = copied ? o.features.includes('kill') : o.features.includes('kill-copy');
      const kill = !last && may && rng.chance(0.3);
      if (!kill) copied = true;
      return kill ? { type: 'sync', killAfterLines: rng.int(2, 150) } : { type: 'sync' };
    };
    /** Runs an action and keeps it; true when the scenario has failed. A writer's failing step is dropped. */
    const execute = async (action: Action, apply = (): void => undefined): Promise<boolean> => {
      try {
        failure = await runner.execute(action, actions.length);
      } catch (err) {
        log(`seed ${o.seed}: step dropped (${(err as Error).message.split('\n')[0]}): ${describeAction(action)}`);
        return false;
      }
      apply();
      actions.push(action);
      return failure !== undefined;
    };
    let failed = await execute(sync(false));
    for (let salt = 1; salt <= o.steps && !failed; salt++) {
      const step = generator.next(salt);
      if (step) failed = await execute(step.action, step.apply);
      if (!failed && rng.chance(0.35)) failed = await execute(sync(false));
    }
    if (!failed) await execute(sync(true));
  } finally {
    await runner.close();
  }
  if (!failure) return { seed: o.seed, features: o.features, actions, ms: Date.now() - started };

  let report = formatFailure({ seed: o.seed, features: o.features, steps: o.steps, tapConfig: scenario.tapConfig, actions, failure });
  const shrunk = await shrink(actions.slice(0, failure.atAction + 1), failure, o.shrinkBudgetMs ?? 0, async (candidate) => {
    const fresh = buildScenario(new Prng(o.seed), o.features);
    return replay({ ...runnerOptions, log: () => undefined }, fresh.setupSql, candidate);
  });
  if (shrunk) {
    report += `\n${formatFailure({ seed: o.seed, features: o.features, steps: o.steps, tapConfig: scenario.tapConfig, ...shrunk, title: `shrunk in ${shrunk.replays} replays to ${shrunk.actions.length} of ${failure.atAction + 1} actions` })}`;
  }
  return { seed: o.seed, features: o.features, actions, failure, shrunk, report, ms: Date.now() - started };
}

/** Setup (tables, their first rows, compressed first chunks, a compression policy) and the tap's settings. */
function buildScenario(rng: Prng, features: readonly Feature[]): Scenario {
  const tables = tableModels(features);
  const setupSql: string[] = [];
  for (const t of tables) {
    setupSql.push(createTableSql(t));
    const n = t.shape.endsWith('hypertable') ? rng.int(300, 900) : rng.int(50, 150);
    setupSql.push(insertSql(t, t.nextRow, t.nextRow + n - 1, 0));
    t.nextRow += n;
    if (t.compressed) setupSql.push(`SELECT compress_chunk(c) FROM show_chunks('${t.name}', older_than => ${DAY0} + interval '1 day') c`);
  }
  setupSql.push(`SELECT add_compression_policy('readings', compress_after => interval '1 day')`);
  return { tables, setupSql, tapConfig: { state_every_n_rows: rng.pick([5, 50, 10_000]) } };
}

/** Runs actions from scratch; a writer's SQL error makes the replay invalid (undefined: no failure to show). */
async function replay(o: RunnerOptions, setupSql: string[], actions: readonly Action[]): Promise<Failure | undefined> {
  const runner = await ScenarioRunner.open(o, setupSql);
  try {
    for (const [i, action] of actions.entries()) {
      const failure = await runner.execute(action, i);
      if (failure) return failure;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    await runner.close();
  }
}

/**
 * Greedy shrinking: drops one action at a time (never the failing run at the end) and keeps a drop when a
 * replay from scratch still fails the same way, until no drop helps or the budget is spent.
 */
async function shrink(
  actions: Action[],
  failure: Failure,
  budgetMs: number,
  replayOf: (actions: Action[]) => Promise<Failure | undefined>,
): Promise<{ actions: Action[]; failure: Failure; replays: number } | undefined> {
  if (budgetMs <= 0) return undefined;
  const deadline = Date.now() + budgetMs;
  let best = { actions, failure };
  let replays = 0;
  for (let i = 0; i < best.actions.length - 1 && Date.now() < deadline;) {
    const candidate = best.actions.filter((_, j) => j !== i);
    const f = await replayOf(candidate);
    replays++;
    if (f && f.kind === failure.kind) best = { actions: candidate.slice(0, f.atAction + 1), failure: f };
    else i++;
  }
  return { ...best, replays };
}

/** The actions of a run by kind, for a one-line log: `12 actions: 3 insert, 2 update, 4 tap runs (1 killed)`. */
export function summarize(actions: readonly Action[]): string {
  const counts = new Map<string, number>();
  for (const a of actions) {
    const k = a.type === 'sync' ? (a.killAfterLines === undefined ? 'tap runs' : 'killed runs') : a.feature;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return `${actions.length} actions (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`;
}
