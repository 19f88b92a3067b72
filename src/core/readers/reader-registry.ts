import { FatalSyncError } from '../errors.js';
import type { ReaderStrategy } from './table-reader.js';
import type { StreamPlan } from './stream-plan.js';

/** Picks the reader strategy for each stream. Nothing else in the core decides how a table is read. */
export class ReaderRegistry {
  private readonly strategies: ReaderStrategy[] = [];

  register(strategy: ReaderStrategy): void {
    if (this.strategies.some((s) => s.name === strategy.name)) {
      throw new FatalSyncError(`a reader strategy named ${strategy.name} is registered already`);
    }
    this.strategies.push(strategy);
  }

  list(): readonly ReaderStrategy[] {
    return this.strategies;
  }

  async choose(plan: StreamPlan): Promise<ReaderStrategy> {
    let best: ReaderStrategy | undefined;
    for (const s of this.strategies) {
      if (!(await s.claims(plan))) continue;
      if (!best || s.precedence >= best.precedence) best = s;
    }
    if (!best) throw new FatalSyncError(`no reader claims stream ${plan.tapStreamId}`);
    return best;
  }
}
