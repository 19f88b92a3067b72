import { FatalSyncError, PluginError, isStopSync } from '../errors.js';
import type { ReaderStrategy } from './table-reader.js';
import type { StreamPlan } from './stream-plan.js';

/** Which streams a wrapper applies to. */
export type StreamClaim = (plan: StreamPlan) => boolean | Promise<boolean>;

/**
 * Wraps the strategy that would otherwise read a stream. Return a strategy that delegates to `inner`
 * (its `reader.read`, its `prepare`): the inner strategy keeps its slicing, per-chunk state,
 * concurrency and resume. `withShape` and `withReadHook` (reader-wrappers.ts) build the usual ones.
 */
export type StrategyWrapper = (inner: ReaderStrategy) => ReaderStrategy;

/** Picks the reader strategy for each stream. Nothing else in the core decides how a table is read. */
export class ReaderRegistry {
  private readonly strategies: ReaderStrategy[] = [];
  private readonly wrappers: { claims: StreamClaim; wrap: StrategyWrapper; owner?: string }[] = [];

  register(strategy: ReaderStrategy): void {
    if (this.strategies.some((s) => s.name === strategy.name)) {
      throw new FatalSyncError(`a reader strategy named ${strategy.name} is registered already`);
    }
    this.strategies.push(strategy);
  }

  /**
   * Wraps the chosen strategy of the streams `claims` accepts. Wrappers apply in load order, each
   * around the one before (the first registered is innermost), after the registry chose by precedence.
   */
  wrap(claims: StreamClaim, wrapper: StrategyWrapper, owner?: string): void {
    this.wrappers.push({ claims, wrap: wrapper, owner });
  }

  list(): readonly ReaderStrategy[] {
    return this.strategies;
  }

  async choose(plan: StreamPlan): Promise<ReaderStrategy> {
    let best = await this.chooseUnwrapped(plan);
    for (const w of this.wrappers) if (await w.claims(plan)) best = owned(w.wrap(best), w.owner);
    return best;
  }

  /**
   * The claiming strategy of the highest precedence, without the wrappers: for a strategy that hands its
   * reading to another one (LOG_BASED's copy) and is wrapped itself already, so that a wrapper sees each
   * row once. The wrappers' shapes are in the plan it passes on (their `prepare` ran on it).
   */
  async chooseUnwrapped(plan: StreamPlan): Promise<ReaderStrategy> {
    let best: ReaderStrategy | undefined;
    for (const s of this.strategies) {
      if (!(await s.claims(plan))) continue;
      if (!best || s.precedence >= best.precedence) best = s;
    }
    if (!best) throw new FatalSyncError(`no reader claims stream ${plan.tapStreamId}`);
    return best;
  }
}

/** A wrapped strategy whose StopSyncErrors name the plugin that registered the wrapper. */
function owned(strategy: ReaderStrategy, owner: string | undefined): ReaderStrategy {
  if (!owner) return strategy;
  const inner = strategy.reader;
  const prepare = strategy.prepare;
  return {
    ...strategy,
    // a refusal of the wrapper's (a shape the reader cannot apply) names the plugin too
    prepare: prepare
      ? async (plan) => {
          try {
            return await prepare.call(strategy, plan);
          } catch (err) {
            if (err instanceof PluginError && !err.message.startsWith('plugin ')) err.message = `plugin ${owner}: ${err.message}`;
            throw err;
          }
        }
      : undefined,
    reader: {
      async *read(ctx) {
        try {
          yield* inner.read(ctx);
        } catch (err) {
          if (isStopSync(err)) err.plugin ??= owner;
          throw err;
        }
      },
    },
  };
}
