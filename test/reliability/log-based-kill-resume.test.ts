import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { lastState, records, runTap, runTapUntilKilled, tmpJson } from '../helpers/run-tap.js';
import { dropSlots, logBasedTap } from '../helpers/log-based.js';

const CHANGES = 3000;
// enough changes that the slot's session is still reading when the test looks for it (binary COPY reads 3,000 in a blink)
const LOST_CHANGES = 30_000;

/**
 * SIGKILL in the middle of a change stream, then a run with the last STATE the killed run wrote: every
 * change arrives (the STATE's lsn is the end of a transaction emitted in full, and the slot was not
 * confirmed past the state given), and the next run with the final state emits nothing.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED killed mid-stream (native PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
      INSERT INTO counters SELECT g, 0 FROM generate_series(1, ${CHANGES}) g;`);
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('resumes from the last STATE: nothing lost', async () => {
    const tap = await logBasedTap(db, ['public-counters'], { state_every_n_rows: 100 });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    // one transaction per change, so the stream has many transaction ends to checkpoint at
    await db.sql(`DO $$ BEGIN FOR i IN 1..${CHANGES} LOOP UPDATE counters SET n = 1 WHERE id = i; COMMIT; END LOOP; END $$`);

    let seen = 0;
    const killed = await runTapUntilKilled(
      ['--config', tap.config, '--catalog', tap.catalog, '--state', tmpJson(first.state)],
      (m) => m.type === 'RECORD' && ++seen === 1500,
    );
    expect(killed.killed).toBe(true);
    const before = records(killed.messages).map((r) => r.id as number);
    const state = lastState(killed.messages)!;
    expect(state.bookmarks['public-counters'].lsn).toBeGreaterThan(first.state!.bookmarks['public-counters'].lsn);

    const resumed = await tap.run(state);
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = resumed.recs.map((r) => r.id as number);
    expect(new Set([...before, ...after]).size).toBe(CHANGES);
    expect(resumed.recs.every((r) => r.n === 1)).toBe(true);
    // duplicates are at most the records after the last STATE the killed run wrote
    expect(before.length + after.length - CHANGES).toBeLessThanOrEqual(100);

    const again = await tap.run(resumed.state);
    expect(again.code, again.stderr).toBe(0);
    expect(again.recs).toEqual([]);
  });

  it('killed inside one large transaction: the resumed run emits exactly the changes after the last STATE, none twice', async () => {
    await db.sql(
      `CREATE TABLE bulk (id int PRIMARY KEY, n int NOT NULL); INSERT INTO bulk SELECT g, 0 FROM generate_series(1, ${CHANGES}) g;`,
    );
    const tap = await logBasedTap(db, ['public-bulk'], { state_every_n_rows: 100, replication_slot: 'tap_bulk' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    await db.sql(`UPDATE bulk SET n = 1`);

    let seen = 0;
    const killed = await runTapUntilKilled(
      ['--config', tap.config, '--catalog', tap.catalog, '--state', tmpJson(first.state)],
      (m) => m.type === 'RECORD' && ++seen === 1550,
    );
    expect(killed.killed).toBe(true);
    const lastStateAt = killed.messages.map((m) => m.type).lastIndexOf('STATE');
    const covered = records(killed.messages.slice(0, lastStateAt)).map((r) => r.id as number);
    const state = killed.messages[lastStateAt]!.value;
    // the STATE is inside the transaction: the last complete one before it, and how many of its changes are out
    expect(state.bookmarks['public-bulk'].tx_changes).toBe(covered.length);
    // every batch respects state_every_n_rows, inside a transaction too
    expect(covered.length % 100).toBe(0);

    const resumed = await tap.run(state);
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = resumed.recs.map((r) => r.id as number);
    expect(after.length).toBe(CHANGES - covered.length);
    expect(new Set([...covered, ...after]).size).toBe(CHANGES);
    const again = await tap.run(resumed.state);
    expect(again.recs).toEqual([]);
  });

  it('a connection lost mid-stream is retried from the last emitted lsn: every change arrives', async () => {
    await db.sql(
      `CREATE TABLE lost (id int PRIMARY KEY, n int NOT NULL); INSERT INTO lost SELECT g, 0 FROM generate_series(1, ${LOST_CHANGES}) g;`,
    );
    const tap = await logBasedTap(db, ['public-lost'], {
      state_every_n_rows: 100,
      retry_initial_delay_ms: 100,
      application_name: 'tap-lost',
    });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    await db.sql(`DO $$ BEGIN FOR i IN 1..${LOST_CHANGES} LOOP UPDATE lost SET n = 1 WHERE id = i; COMMIT; END LOOP; END $$`);
    const running = runTap(['--config', tap.config, '--catalog', tap.catalog, '--state', tmpJson(first.state)]);
    // cut the session that reads the slot, once, while it reads
    let cut = 0;
    for (let i = 0; i < 400 && cut === 0; i++) {
      const rows = await db.sql(
        `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = 'tap-lost log-based changes' AND query LIKE 'START_REPLICATION SLOT%'`,
      );
      cut = rows.length;
      if (cut === 0) await new Promise((r) => setTimeout(r, 25));
    }
    const run = await running;
    expect(cut).toBe(1);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/WARN public-lost: .*retry 1\/4 in 100 ms from the last bookmark/);
    const ids = records(run.messages).map((r) => r.id as number);
    expect(new Set(ids).size).toBe(LOST_CHANGES);
  });
});
