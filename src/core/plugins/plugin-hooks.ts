import type { Logger } from '../logger.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type {
  BatchEvent,
  PartitionEvents,
  StreamEndEvent,
  StreamStartEvent,
  SyncEndEvent,
  TapPlugin,
} from './tap-plugin.js';

/** Calls a hook on every loaded plugin, in load order. A failing observer hook is logged, not fatal. */
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
        this.log.warn(`plugin ${p.name}: onBatch failed: ${(err as Error).message}`);
      }
    }
  }

  async streamStart(event: StreamStartEvent): Promise<void> {
    for (const p of this.plugins) await this.guard(p, 'onStreamStart', () => p.onStreamStart?.(event));
  }

  async streamEnd(event: StreamEndEvent): Promise<void> {
    for (const p of this.plugins) await this.guard(p, 'onStreamEnd', () => p.onStreamEnd?.(event));
  }

  async syncEnd(event: SyncEndEvent): Promise<void> {
    for (const p of this.plugins) await this.guard(p, 'onSyncEnd', () => p.onSyncEnd?.(event));
  }

  partitions(plan: StreamPlan): PartitionEvents {
    return {
      start: async (e) => {
        for (const p of this.plugins) if (p.onPartitionStart) await this.guard(p, 'onPartitionStart', () => p.onPartitionStart!({ ...e, plan }));
      },
      end: async (e) => {
        for (const p of this.plugins) if (p.onPartitionEnd) await this.guard(p, 'onPartitionEnd', () => p.onPartitionEnd!({ ...e, plan }));
      },
    };
  }

  private async guard(plugin: TapPlugin, hook: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.warn(`plugin ${plugin.name}: ${hook} failed: ${(err as Error).message}`);
    }
  }
}
