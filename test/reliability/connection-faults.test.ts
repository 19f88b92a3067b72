import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { startOwnCluster, type OwnCluster } from './own-cluster.js';
import { TapProcess, until } from './tap-process.js';

const ROWS = 100_000; // ~20 MB of COPY output: more than the pipe and socket buffers, so the server blocks mid-COPY
const EVERY = 1000;
const TABLE = `CREATE TABLE wide(id int PRIMARY KEY, payload text NOT NULL);
  INSERT INTO wide SELECT g, md5(g::text) || repeat('p', 150) FROM generate_series(1, ${ROWS}) g`;

/** Every id once, and every payload as in the source: nothing lost, nothing altered. */
function expectExactRows(emitted: Record<string, any>[], source: Map<number, string>): number {
  const seen = new Map<number, string>();
  for (const r of emitted) {
    expect(r.payload).toBe(source.get(r.id));
    seen.set(r.id, r.payload);
  }
  expect(seen.size).toBe(source.size);
  return emitted.length - seen.size;
}

async function sourceRows(sql: (t: string) => Promise<{ id: number; payload: string }[]>): Promise<Map<number, string>> {
  return new Map((await sql('SELECT id, payload FROM wide')).map((r) => [r.id, r.payload]));
}

/**
 * Starts a sync of public-wide, stops reading its stdout after the first record and waits until the
 * tap's backend is blocked sending COPY data (wait_event ClientWrite): the read is surely in flight.
 */
async function tapBlockedMidCopy(
  config: string,
  catalog: string,
  app: string,
  adminSql: (t: string, p: unknown[]) => Promise<any[]>,
): Promise<{ tap: TapProcess; pid: number }> {
  const tap = new TapProcess(['--config', config, '--catalog', catalog]);
  await tap.waitFor((m) => m.type === 'RECORD');
  tap.pause();
  const pid = await until(async () => {
    const rows = await adminSql(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'COPY%' AND wait_event = 'ClientWrite'`,
      [app],
    );
    return rows[0]?.pid as number | undefined;
  }, 'the tap backend to block in ClientWrite');
  return { tap, pid };
}

describe.skipIf(nativeSkipReason)('connection lost mid-COPY (native PostgreSQL)', () => {
  let db: TestDatabase;
  let source: Map<number, string>;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(TABLE);
    source = await sourceRows((t) => db.sql(t));
  });
  afterAll(async () => db?.close());

  it('pg_terminate_backend on the tap mid-read: retried with backoff from the bookmark, every row exactly once', async () => {
    const app = `tap-kill-${randomBytes(3).toString('hex')}`;
    const config = tmpJson({ url: db.url, application_name: app, state_every_n_rows: EVERY, retry_initial_delay_ms: 200 });
    const catalog = tmpJson(select(await discover(config), { 'public-wide': {} }));
    const { tap, pid } = await tapBlockedMidCopy(config, catalog, app, (t, p) => db.sql(t, p));
    const [{ ok }] = await db.sql<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(ok).toBe(true);
    tap.resume();
    const { code } = await tap.exited;
    expect(code, tap.stderr).toBe(0);
    expect(tap.stderr).toMatch(/public-wide: .*terminat.*; retry 1\/4 in 200 ms from the last bookmark/);
    const duplicates = expectExactRows(records(tap.messages), source);
    console.log(`terminated backend ${pid}: ${ROWS} rows, ${duplicates} duplicates after the retry`);
    expect(duplicates).toBe(0); // the retry starts after the last record emitted (last_pk_fetched)
  });
});

describe.skipIf(nativeSkipReason)('server stopped mid-sync (a cluster of this file)', () => {
  let cluster: OwnCluster;
  let source: Map<number, string>;
  let url: string;
  beforeAll(async () => {
    cluster = startOwnCluster();
    await cluster.sql('CREATE DATABASE faults');
    await cluster.sql(TABLE, [], 'faults');
    source = await sourceRows((t) => cluster.sql(t, [], 'faults'));
    url = cluster.url('postgres', undefined, 'faults');
  });
  afterAll(() => cluster?.destroy());

  const setup = async (retry: Record<string, number>) => {
    cluster.start(); // a no-op when it runs; an earlier failed test may have left it stopped
    const app = `tap-restart-${randomBytes(3).toString('hex')}`;
    const config = tmpJson({ url, application_name: app, state_every_n_rows: EVERY, ...retry });
    const catalog = tmpJson(select(await discover(config), { 'public-wide': {} }));
    const blocked = await tapBlockedMidCopy(config, catalog, app, (t, p) => cluster.sql(t, p, 'faults'));
    return { ...blocked, config, catalog };
  };

  it('a restart of the server during the read: retries until it is back, then completes with every row', async () => {
    const { tap } = await setup({ retry_attempts: 10, retry_initial_delay_ms: 250, retry_max_delay_ms: 2000 });
    cluster.stop();
    tap.resume(); // the tap now meets the closed connection, then a refused one
    try {
      await until(async () => /connection refused/.test(tap.stderr) || undefined, 'a refused connection', 20_000);
    } finally {
      cluster.start();
    }
    const { code } = await tap.exited;
    expect(code, tap.stderr).toBe(0);
    expect(tap.stderr).toMatch(/public-wide: .*; retry 1\/9/);
    const duplicates = expectExactRows(records(tap.messages), source);
    console.log(`server restart: ${(tap.stderr.match(/; retry \d+\/9/g) ?? []).length} retries, ${duplicates} duplicates`);
    expect(duplicates).toBe(0);
  });

  it('SIGTERM while waiting to retry: stops at once with exit 143, not after the backoff delay', async () => {
    const { tap } = await setup({ retry_attempts: 5, retry_initial_delay_ms: 60_000, retry_max_delay_ms: 60_000 });
    cluster.stop();
    tap.resume();
    try {
      await until(async () => /retry 1\/4 in 60000 ms/.test(tap.stderr) || undefined, 'the first retry wait', 20_000);
    } finally {
      cluster.start();
    }
    const sentAt = Date.now();
    tap.child.kill('SIGTERM');
    const { code } = await tap.exited;
    console.log(`SIGTERM during a 60 s retry wait: exited after ${Date.now() - sentAt} ms`);
    expect(code, tap.stderr).toBe(143);
    expect(Date.now() - sentAt).toBeLessThan(10_000); // a liveness bound: the wait was 60 s
    expect(tap.stderr).toMatch(/CRITICAL stopped by SIGTERM during public-wide while waiting to retry/);
    expect(lastState(tap.messages)!.bookmarks['public-wide'].last_pk_fetched.id).toBe(records(tap.messages).at(-1)!.id);
  });

  it('retries exhausted (server stays down): exit 1, CRITICAL names the stream, STATE holds what is complete; a resume completes', async () => {
    const { tap, config, catalog } = await setup({ retry_attempts: 3, retry_initial_delay_ms: 100 });
    cluster.stop();
    tap.resume();
    const { code } = await tap.exited;
    cluster.start();
    expect(code, tap.stderr).toBe(1);
    const critical = tap.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatch(/public-wide/);
    expect(critical[0]).toMatch(/3 attempts/);
    expect(tap.stdout.endsWith('\n')).toBe(true);
    const first = records(tap.messages);
    const state = lastState(tap.messages)!;
    // the last STATE covers every record emitted: nothing after it is lost, nothing before it is read again
    expect(state.bookmarks['public-wide'].last_pk_fetched.id).toBe(first.at(-1)!.id);
    const resumed = await runTap(['--config', config, '--catalog', catalog, '--state', tmpJson(state)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const duplicates = expectExactRows([...first, ...records(resumed.messages)], source);
    console.log(
      `retries exhausted: ${first.length} records before, ${records(resumed.messages).length} after the resume, ${duplicates} duplicates`,
    );
    expect(duplicates).toBe(0);
  });
});

describe.skipIf(nativeSkipReason)('session settings and timeouts (native PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE locked(id int PRIMARY KEY, v text);
      INSERT INTO locked SELECT g, 'v' || g FROM generate_series(1, 2000) g;
      CREATE TABLE events(id int NOT NULL, v text) PARTITION BY RANGE (id);
      CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (1001);
      CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (1001) TO (2001);
      CREATE TABLE events_3 PARTITION OF events FOR VALUES FROM (2001) TO (3001);
      INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 3000) g;
      CREATE FUNCTION slow(int) RETURNS int LANGUAGE sql AS 'SELECT pg_sleep(0.01); SELECT $1';
      CREATE VIEW slow_view AS SELECT slow(g) AS id FROM generate_series(1, 300) g;`);
  });
  afterAll(async () => db?.close());

  /**
   * Holds an ACCESS EXCLUSIVE lock on `table` from another session while `run` runs, until `ms` after a
   * session first waits on it (counted from the wait, not from the start: on a busy machine the tap may
   * take seconds to reach the table).
   */
  async function whileLocked<T>(table: string, ms: number, run: () => Promise<T>): Promise<T> {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const watcher = new pg.Client({ connectionString: db.url });
    await watcher.connect();
    let release: NodeJS.Timeout | undefined;
    let stop = false;
    const watching = (async () => {
      while (!stop) {
        const { rows } = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if (rows.length > 0) {
          release = setTimeout(() => void locker.query('COMMIT'), ms);
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      return await run();
    } finally {
      stop = true;
      await watching;
      await watcher.end();
      clearTimeout(release);
      await locker.query('COMMIT').catch(() => undefined);
      await locker.end();
    }
  }

  for (const [stream, table, ids] of [
    ['public-locked', 'locked', 2000],
    ['public-events', 'events_2', 3000],
  ] as const) {
    it(`${stream}: ACCESS EXCLUSIVE on ${table} for 2 s with lock_timeout 500ms → lock timeout, retried, every row`, async () => {
      const config = tmpJson({
        url: db.url,
        lock_timeout: '500ms',
        retry_initial_delay_ms: 400,
        retry_attempts: 6,
        state_every_n_rows: 200,
      });
      const catalog = tmpJson(select(await discover(config), { [stream]: {} }));
      const run = await whileLocked(table, 2000, () => runTap(['--config', config, '--catalog', catalog]));
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/WARN \S+: .*canceling statement due to lock timeout.*; retry 1\/5/);
      // the warning names the locked relation's read: listing the partitions takes no lock on them
      for (const w of run.stderr.split('\n').filter((l) => l.includes('due to lock timeout')))
        expect(w, run.stderr).toContain(
          stream === 'public-events' ? 'COPY of chunk public.events_2 of public-events failed' : 'COPY of public-locked failed',
        );
      const got = records(run.messages).map((r) => r.id as number);
      expect(new Set(got).size).toBe(ids);
      expect(Math.min(...got)).toBe(1);
      expect(Math.max(...got)).toBe(ids);
      console.log(`${stream}: ${(run.stderr.match(/due to lock timeout/g) ?? []).length} lock timeouts, ${got.length - ids} duplicates`);
      expect(got.length).toBe(ids); // nothing of the locked relation was emitted before the timeout
    });
  }

  it('SIGTERM while a read waits on a lock: exits 143 within seconds, not at lock_timeout, with STATE written', async () => {
    const config = tmpJson({ url: db.url, lock_timeout: '60s' });
    const catalog = tmpJson(select(await discover(config), { 'public-locked': {} }));
    await whileLocked('locked', 30_000, async () => {
      const tap = new TapProcess(['--config', config, '--catalog', catalog]);
      await tap.waitFor((m) => m.type === 'STATE');
      await new Promise((r) => setTimeout(r, 500)); // the COPY is now queued behind the lock
      const sentAt = Date.now();
      tap.child.kill('SIGTERM');
      const { code } = await tap.exited;
      const took = Date.now() - sentAt;
      console.log(`SIGTERM during a read blocked by a lock: exited after ${took} ms`);
      expect(code, tap.stderr).toBe(143);
      expect(took).toBeLessThan(15_000);
      expect(tap.stderr).toMatch(/CRITICAL stopped by SIGTERM during public-locked/);
      expect(tap.messages.at(-1)!.type).toBe('STATE');
    });
  });

  it('an invalid statement_timeout or lock_timeout is a configuration error (exit 2) naming the setting, before any message', async () => {
    for (const setting of ['statement_timeout', 'lock_timeout']) {
      const run = await runTap(['--config', tmpJson({ url: db.url, [setting]: '30 bananas' }), '--discover']);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`CRITICAL .*"${setting}".*take a PostgreSQL interval`));
    }
  });

  it('statement_timeout is the session setting of the tap, and a query past it fails with a clear error naming the stream', async () => {
    const probe = {
      module: new URL('./fixtures/session-probe-plugin.mjs', import.meta.url).pathname,
      options: { sql: 'SHOW statement_timeout' },
    };
    const config = tmpJson({ url: db.url, statement_timeout: '1s', retry_attempts: 2, retry_initial_delay_ms: 100, plugins: [probe] });
    const catalog = tmpJson(select(await discover(config), { 'public-slow_view': {} }));
    const run = await runTap(['--config', config, '--catalog', catalog]);
    expect(run.stderr).toContain('PROBE [{"statement_timeout":"1s"}]');
    expect(run.code, run.stderr).toBe(1);
    const critical = run.stderr.split('\n').filter((l) => l.startsWith('CRITICAL'));
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatch(/public-slow_view.*canceling statement due to statement timeout \(SQLSTATE 57014\)/);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
