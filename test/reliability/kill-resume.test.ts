import { afterAll, describe, expect, it } from 'vitest';
import { describeOnEngines, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { createMetricsHypertable } from '../helpers/hypertable-fixtures.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';

const EVERY = 50;
const TRIALS = 10;

/** Deterministic kill points: a seeded LCG, so a failing trial can be replayed. */
function killPoints(seed: number, count: number, below: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 1 + (x % (below - 1));
  });
}

interface Trial {
  readonly config: string;
  readonly catalog: string;
  readonly key: string;
  readonly source: readonly string[];
  readonly killAt: number;
}

/**
 * SIGKILLs the tap after message `killAt` (a crash: no STATE on the way out), resumes from the last
 * STATE it wrote, and returns how many records came twice. Every source key must have arrived.
 */
async function killAndResume(t: Trial): Promise<number> {
  const args = ['--config', t.config, '--catalog', t.catalog];
  const killed = await runTapUntilKilled(args, (_m, i) => i === t.killAt);
  expect(killed.killed, killed.stderr).toBe(true);
  const state = lastState(killed.messages);
  const resumed = await runTap(state ? [...args, '--state', tmpJson(state)] : args);
  expect(resumed.code, resumed.stderr).toBe(0);
  const keys = [...records(killed.messages), ...records(resumed.messages)].map((r) => String(r[t.key]));
  const unique = new Set(keys);
  expect([...unique].sort()).toEqual([...t.source].sort());
  return keys.length - unique.size;
}

interface Trials {
  readonly label: string;
  readonly config: string;
  readonly stream: string;
  /** the INCREMENTAL trials' replication key (odd trials; even ones are FULL_TABLE) */
  readonly replicationKey: string;
  /** the record field that identifies a source row */
  readonly key: string;
  readonly source: readonly string[];
  readonly seed: number;
  /** the most duplicates one kill may cause, and why */
  readonly bound: number;
  readonly boundWhy: string;
}

/** TRIALS kills at seeded points over a full run's messages, half FULL_TABLE, half INCREMENTAL. */
async function killTrials(t: Trials): Promise<void> {
  const catalog = await discover(t.config);
  const full = tmpJson(select(catalog, { [t.stream]: {} }));
  const incremental = tmpJson(select(catalog, { [t.stream]: { method: 'INCREMENTAL', key: t.replicationKey } }));
  const complete = await runTap(['--config', t.config, '--catalog', full]);
  expect(complete.code, complete.stderr).toBe(0);
  const total = complete.messages.length;
  for (const [i, killAt] of killPoints(t.seed, TRIALS, total).entries()) {
    const method = i % 2 === 0 ? 'FULL_TABLE' : 'INCREMENTAL';
    const dup = await killAndResume({ config: t.config, catalog: i % 2 === 0 ? full : incremental, key: t.key, source: t.source, killAt });
    console.log(
      `${t.label} trial ${i + 1} (${method}): killed after message ${killAt}/${total}, ${dup} duplicates (bound: ${t.bound}, ${t.boundWhy})`,
    );
    expect(dup).toBeLessThanOrEqual(t.bound);
  }
}

describeOnEngines('SIGKILL at random points, then resume from the last STATE: a space-partitioned hypertable', (engine) => {
  let db: TestDatabase;
  afterAll(async () => db?.close());

  it(`${TRIALS} trials, FULL_TABLE and INCREMENTAL on ts: every row arrives, duplicates at most one chunk`, async () => {
    db = await engine.open();
    await createMetricsHypertable(db, 'metrics', 6, 20); // 12 chunks (6 days x 2 hash partitions), 1,728 rows
    const source = (await db.sql<{ note: string }>('SELECT note FROM metrics')).map((r) => r.note);
    const chunkRows = Number(
      (await db.sql<{ n: string }>('SELECT max(n) AS n FROM (SELECT count(*) AS n FROM metrics GROUP BY tableoid) c'))[0]!.n,
    );
    const config = tmpJson({ url: db.url, state_every_n_rows: EVERY });
    // a resumed run reads again the chunk it was in
    await killTrials({
      label: 'hypertable',
      config,
      stream: 'public-metrics',
      replicationKey: 'ts',
      key: 'note',
      source,
      seed: 8,
      bound: chunkRows,
      boundWhy: 'one chunk',
    });
  }, 300_000); // 21 tap runs and 10 resumes: 22 s alone on the embedded engine, past 120 s on a loaded machine
});

describe.skipIf(nativeSkipReason)('SIGKILL at random points, then resume from the last STATE: a plain table on native PostgreSQL', () => {
  let db: TestDatabase;
  afterAll(async () => db?.close());

  it(`${TRIALS} trials, FULL_TABLE by key and INCREMENTAL on updated_at: every row arrives, duplicates at most state_every_n_rows`, async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE items(id int PRIMARY KEY, updated_at timestamptz NOT NULL, v text);
      INSERT INTO items SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', 'v' || g FROM generate_series(1, 3000) g`);
    const source = (await db.sql<{ id: number }>('SELECT id FROM items')).map((r) => String(r.id));
    const config = tmpJson({ url: db.url, state_every_n_rows: EVERY });
    // records after the last STATE come again, plus (INCREMENTAL, >=) the row holding the bookmark value
    await killTrials({
      label: 'plain table',
      config,
      stream: 'public-items',
      replicationKey: 'updated_at',
      key: 'id',
      source,
      seed: 15,
      bound: EVERY + 1,
      boundWhy: 'state_every_n_rows + 1',
    });
  });
});
