import { describe, expect, it } from 'vitest';
import { batchSettingsFrom } from '../../src/core/batch/batch-settings.js';

const batch = (prefix?: string) => ({
  encoding: { format: 'jsonl' },
  storage: { root: 'file:///tmp/tap-shard-batches', ...(prefix === undefined ? {} : { prefix }) },
});

/** Two shards under one root and prefix must not share file names: a shard's start removes unfinished files of its own name. */
describe('BATCH file names of a shard', () => {
  it('carry shard-<i>-of-<n>- after the prefix with shard_count above 1, and nothing without', () => {
    expect(batchSettingsFrom({ batch_config: batch('nightly-'), shard_index: 2, shard_count: 4 })?.prefix).toBe('nightly-shard-2-of-4-');
    expect(batchSettingsFrom({ batch_config: batch(), shard_index: 0, shard_count: 2 })?.prefix).toBe('shard-0-of-2-');
    expect(batchSettingsFrom({ batch_config: batch('nightly-'), shard_index: 0, shard_count: 1 })?.prefix).toBe('nightly-');
  });
});
