import pg from 'pg';

/**
 * Runs `work` while sampling pg_stat_activity every 10 ms, and returns the most COPYs of sessions named
 * `application` seen at once in one of `states` (a chunk COPY whose rows the server has all sent can sit
 * 'idle in transaction' until the tap has read them).
 */
export async function mostCopiesAtOnce<T>(
  url: string,
  application: string,
  states: readonly string[],
  work: () => Promise<T>,
): Promise<{ result: T; most: number }> {
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  let most = 0;
  let done = false;
  const watching = (async () => {
    while (!done) {
      const { rows } = await watcher.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = ANY($2) AND query LIKE 'COPY%'`,
        [application, states],
      );
      most = Math.max(most, rows[0]!.n);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    return { result: await work(), most };
  } finally {
    done = true;
    await watching;
    await watcher.end();
  }
}
