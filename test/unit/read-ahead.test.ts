import { describe, expect, it } from 'vitest';
import { readAhead } from '../../src/core/readers/read-ahead.js';

/** A job of `n` items of `size` each that records what was pulled from it and whether its finally ran. */
function job(name: string, n: number, log: string[], options: { failAt?: number } = {}) {
  const state = { pulled: 0, closed: false };
  const run = async function* (): AsyncGenerator<{ name: string; i: number; size: number }> {
    try {
      for (let i = 0; i < n; i++) {
        await new Promise((r) => setImmediate(r));
        if (options.failAt === i) throw new Error(`${name} failed at ${i}`);
        state.pulled++;
        log.push(`${name}${i}`);
        yield { name, i, size: 10 };
      }
    } finally {
      state.closed = true;
    }
  };
  return { run, state };
}

const tick = () => new Promise((r) => setTimeout(r, 20));
const options = { sizeOf: (x: { size: number }) => x.size, maxBuffered: 30 };

describe('readAhead: the next job runs ahead of the consumer, its items wait their turn', () => {
  it('yields every item in job order, and starts the next job before the current one is consumed', async () => {
    const log: string[] = [];
    const a = job('a', 5, log);
    const b = job('b', 5, log);
    const c = job('c', 2, log);
    const seen: string[] = [];
    for await (const x of readAhead([a.run, b.run, c.run], options)) {
      if (seen.length === 0) await tick();
      seen.push(`${x.name}${x.i}`);
    }
    expect(seen).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0', 'c1']);
    // while the consumer held a0, b had already produced items
    expect(log.indexOf('b0')).toBeLessThan(log.indexOf('a4'));
  });

  it('pulls a job only until maxBuffered of its items wait (bounded memory)', async () => {
    const log: string[] = [];
    const a = job('a', 100, log);
    const b = job('b', 100, log);
    const it = readAhead([a.run, b.run], options)[Symbol.asyncIterator]();
    await it.next();
    await tick();
    // 30 of size 10: three items wait in each queue, plus the one in flight when the bound was reached
    expect(a.state.pulled).toBeLessThanOrEqual(5);
    expect(b.state.pulled).toBeLessThanOrEqual(4);
    await it.return!(undefined);
  });

  it('a failure of the job ahead comes after every item of the job before it', async () => {
    const log: string[] = [];
    const a = job('a', 4, log);
    const b = job('b', 4, log, { failAt: 0 });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const x of readAhead([a.run, b.run], options)) {
          await tick();
          seen.push(`${x.name}${x.i}`);
        }
      })(),
    ).rejects.toThrow('b failed at 0');
    expect(seen).toEqual(['a0', 'a1', 'a2', 'a3']);
  });

  it('a consumer that stops early closes both running jobs (their finally blocks release connections)', async () => {
    const log: string[] = [];
    const a = job('a', 100, log);
    const b = job('b', 100, log);
    const c = job('c', 100, log);
    for await (const x of readAhead([a.run, b.run, c.run], options)) {
      if (x.i === 2) break;
    }
    expect(a.state.closed).toBe(true);
    expect(b.state.closed).toBe(true);
    expect(c.state.pulled, 'the job after the one ahead never started').toBe(0);
  });
});
