// An example hooks plugin for tap-timescaledb that stops a sync: once the records written reach a budget,
// it throws StopSyncError from onBatch. The tap then stops after the batch in hand, writes STATE for what
// is complete (a rerun with it resumes there), prints one CRITICAL line in this plugin's words and exits 6.
import { StopSyncError, type BatchEvent, type JsonSchema, type TapPlugin } from 'tap-timescaledb';

export interface RowBudgetOptions {
  /** records to write before stopping */
  readonly max_rows: number;
  /** `sync`: one budget for the whole run; `stream`: one per stream */
  readonly per: 'sync' | 'stream';
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  required: ['max_rows'],
  properties: {
    max_rows: { type: 'integer', minimum: 1, description: 'records to write before stopping the sync' },
    per: { type: 'string', enum: ['sync', 'stream'], default: 'sync', description: 'one budget for the run, or one per stream' },
  },
  additionalProperties: false,
};

export function createPlugin(options: RowBudgetOptions): TapPlugin {
  const written = new Map<string, number>();
  return {
    name: 'row-budget',
    optionsSchema,
    // onBatch runs once per batch (at most state_every_n_rows records), so the stop lands on a batch
    // boundary: a budget that is a multiple of state_every_n_rows stops at exactly that many rows
    onBatch(event: BatchEvent) {
      const key = options.per === 'stream' ? event.plan.tapStreamId : '';
      const rows = (written.get(key) ?? 0) + event.rows;
      written.set(key, rows);
      if (rows >= options.max_rows) {
        throw new StopSyncError(
          `row budget of ${options.max_rows}${options.per === 'stream' ? ' per stream' : ''} reached after ${rows} rows`,
        );
      }
    },
  };
}
