import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MessageWriter } from '../../src/core/singer/message-writer.js';
import { STATE_BOUNDARY_INTERVAL_MS, writeState } from '../../src/core/sync/state-output.js';
import type { TapState } from '../../src/core/singer/messages.js';

function output() {
  const out = new PassThrough();
  const lines: Record<string, any>[] = [];
  let rest = '';
  out.on('data', (b: Buffer) => {
    const parts = (rest + b.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts.map((l) => JSON.parse(l)));
  });
  return { writer: new MessageWriter(out), lines };
}

/** The rule docs/reliability.md states (STATE volume): which STATE messages are written, and what they hold. */
describe('STATE volume', () => {
  it('a stream boundary within the interval of the last STATE is skipped; checkpoints never are', async () => {
    const { writer, lines } = output();
    const state: TapState = { bookmarks: {}, currently_syncing: 'a' };
    const t0 = 1_000_000;
    expect(await writeState(writer, state, 'boundary', t0)).toBe(true); // the first is always written
    state.bookmarks.a = { replication_key: 'ts', replication_key_value: '1' };
    expect(await writeState(writer, state, 'boundary', t0 + 10)).toBe(false);
    state.bookmarks.a = { replication_key: 'ts', replication_key_value: '2' };
    expect(await writeState(writer, state, 'checkpoint', t0 + 20)).toBe(true); // a chunk end or N rows
    state.currently_syncing = 'b';
    expect(await writeState(writer, state, 'boundary', t0 + 20 + STATE_BOUNDARY_INTERVAL_MS)).toBe(true);
    await writer.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.value.currently_syncing)).toEqual(['a', 'a', 'b']);
    expect(lines[1].value.bookmarks.a.replication_key_value).toBe('2');
  });

  it('a STATE identical to the last one is not written again, and empty bookmarks are left out', async () => {
    const { writer, lines } = output();
    const state: TapState = { bookmarks: { done: {}, inc: { replication_key: 'id', replication_key_value: 5 } }, currently_syncing: null };
    expect(await writeState(writer, state, 'checkpoint', 1)).toBe(true);
    expect(await writeState(writer, state, 'checkpoint', 2)).toBe(false);
    await writer.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(Object.keys(lines[0]!.value.bookmarks)).toEqual(['inc']);
    expect(state.bookmarks.done).toEqual({}); // the tap's own state is left as it was
  });
});
