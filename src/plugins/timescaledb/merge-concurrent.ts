/**
 * Runs up to `limit` async iterables at once and yields their items as they come, in each job's own
 * order. Jobs start in the order given. A failure stops the rest (their iterators are returned, so
 * their `finally` blocks release connections) and is rethrown.
 */
export async function* mergeConcurrent<T>(jobs: readonly (() => AsyncIterable<T>)[], limit: number): AsyncGenerator<T> {
  if (limit <= 1) {
    for (const job of jobs) yield* job();
    return;
  }
  type Running = { it: AsyncIterator<T>; next: Promise<{ r: IteratorResult<T>; running: Running }> };
  const running = new Set<Running>();
  let nextJob = 0;
  const pull = (r: Running): void => {
    r.next = r.it.next().then((res) => ({ r: res, running: r }));
  };
  const start = (): void => {
    while (running.size < limit && nextJob < jobs.length) {
      const r = { it: jobs[nextJob++]!()[Symbol.asyncIterator]() } as Running;
      pull(r);
      running.add(r);
    }
  };
  try {
    start();
    while (running.size > 0) {
      const { r, running: which } = await Promise.race([...running].map((x) => x.next));
      if (r.done) {
        running.delete(which);
        start();
        continue;
      }
      yield r.value;
      pull(which);
    }
  } finally {
    await Promise.allSettled([...running].map(async (r) => r.it.return?.()));
  }
}
