import { PluginError, isStopSync } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { BatchEvent, PartitionEvents, StreamEndEvent, StreamStartEvent, SyncEndEvent, TapPlugin } from './tap-plugin.js';

/**
 * Calls a hook on every loaded plugin, in load order. The exception policy:
 * - a StopSyncError stops the sync (after the batch in hand, with STATE), whichever plugin throws it;
 * - any other exception fails the sync with exit 5 naming the plugin and the hook, unless the plugin
 *   declares `bestEffort: true`, whose failures are logged as warnings and the sync goes on;
 * - hooks that run because the sync already failed (onStreamEnd/onSyncEnd with status failed) only log,
 *   so the first failure is the one reported.
 */
export class PluginHooks {
  /** the plugins with an onBatch hook, found once: `batch` runs for every batch */
  private readonly batchObservers: readonly TapPlugin[];

  constructor(
    private readonly plugins: readonly TapPlugin[],
    private readonly log: Logger,
  ) {
    this.batchObservers = plugins.filter((p) => typeof p.onBatch === 'function');
  }

  /** Synchronous on purpose: it runs per batch, so no promise is made when no plugin listens. */
  batch(event: BatchEvent): void {
    for (const p of this.batchObservers) {
      try {
        p.onBatch!(event);
      } catch (err) {
        this.failed(p, 'onBatch', err, false);
      }
    }
  }

  async streamStart(event: StreamStartEvent): Promise<void> {
    for (const p of this.plugins) await this.guard(p, 'onStreamStart', () => p.onStreamStart?.(event));
  }

  async streamEnd(event: StreamEndEvent): Promise<void> {
    const afterFailure = event.status === 'failed';
    for (const p of this.plugins) await this.guard(p, 'onStreamEnd', () => p.onStreamEnd?.(event), afterFailure);
  }

  async syncEnd(event: SyncEndEvent): Promise<void> {
    const afterFailure = event.status === 'failed';
    for (const p of this.plugins) await this.guard(p, 'onSyncEnd', () => p.onSyncEnd?.(event), afterFailure);
  }

  partitions(plan: StreamPlan): PartitionEvents {
    return {
      start: async (e) => {
        for (const p of this.plugins)
          if (p.onPartitionStart) await this.guard(p, 'onPartitionStart', () => p.onPartitionStart!({ ...e, plan }));
      },
      end: async (e) => {
        // a failed partition's end is reported while its error is on its way: do not replace that error
        const afterFailure = e.status === 'failed';
        for (const p of this.plugins)
          if (p.onPartitionEnd) await this.guard(p, 'onPartitionEnd', () => p.onPartitionEnd!({ ...e, plan }), afterFailure);
      },
    };
  }

  private async guard(plugin: TapPlugin, hook: string, fn: () => unknown, logOnly = false): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.failed(plugin, hook, err, logOnly);
    }
  }

  private failed(plugin: TapPlugin, hook: string, err: unknown, logOnly: boolean): void {
    const message = err instanceof Error ? err.message : String(err);
    if (logOnly || (plugin.bestEffort && !isStopSync(err))) {
      this.log.warn(`plugin ${plugin.name}: ${hook} failed: ${message}`);
      return;
    }
    if (isStopSync(err)) {
      err.plugin ??= plugin.name;
      throw err;
    }
    throw new PluginError(
      `plugin ${plugin.name}: ${hook} failed: ${message} (a plugin's hook failing stops the sync; the plugin can declare bestEffort: true to be only logged)`,
      { cause: err },
    );
  }
}
