/** How far `readAhead` may run ahead of its consumer. */
export interface ReadAheadOptions<T> {
  /** the cost of an item against `maxBuffered` (e.g. its bytes); one item is always let through */
  readonly sizeOf: (item: T) => number;
  /** buffered items' total size above which a job is paused until the consumer takes some */
  readonly maxBuffered: number;
}

/**
 * Runs the jobs one after another and yields their items in exactly that order, but starts each job
 * while the one before it is still being consumed: the next job's latency (a new transaction, planning,
 * the first bytes of its COPY) passes while the current one's items are written. A job runs ahead until
 * `maxBuffered` of its items wait; then it is no longer pulled, so its COPY stops reading the socket and
 * the server waits (bounded memory). A failure of the job ahead is rethrown only once every item before
 * it has been yielded. When the consumer stops or a job fails, both running jobs are returned, so their
 * `finally` blocks release their connections.
 */
export async function* readAhead<T>(jobs: readonly (() => AsyncIterable<T>)[], options: ReadAheadOptions<T>): AsyncGenerator<T> {
  const pumps: Pump<T>[] = [];
  let nextJob = 0;
  const startNext = (): void => {
    if (nextJob < jobs.length) pumps.push(new Pump(jobs[nextJob++]!()[Symbol.asyncIterator](), options));
  };
  try {
    startNext();
    while (pumps.length > 0) {
      // the job after the current one starts as soon as the current one runs
      if (pumps.length === 1) startNext();
      const item = await pumps[0]!.take();
      if (item.done) {
        pumps.shift();
        continue;
      }
      yield item.value;
    }
  } finally {
    // in job order: the current job gives back what the one ahead may wait for (a permit, a connection)
    for (const pump of pumps) await pump.stop();
  }
}

/** One job pulled into a bounded queue, from the moment it starts until its consumer stops it. */
class Pump<T> {
  private readonly queue: T[] = [];
  private size = 0;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private stopped = false;
  private wakeConsumer: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private readonly running: Promise<void>;

  constructor(
    private readonly it: AsyncIterator<T>,
    private readonly options: ReadAheadOptions<T>,
  ) {
    this.running = this.run();
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.queue.length > 0 && this.size >= this.options.maxBuffered) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          continue;
        }
        const r = await this.it.next();
        if (r.done) break;
        this.queue.push(r.value);
        this.size += this.options.sizeOf(r.value);
        this.wake();
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }

  async take(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.queue.length > 0) {
        const value = this.queue.shift()!;
        this.size -= this.options.sizeOf(value);
        const wake = this.wakePump;
        this.wakePump = undefined;
        wake?.();
        return { value, done: false };
      }
      if (this.ended) {
        if (this.failure) throw this.failure.error;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  /** Stops pulling and returns the job (after the pull in flight, if any, has settled). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakePump?.();
    await this.running;
    await this.it.return?.(undefined);
  }
}
