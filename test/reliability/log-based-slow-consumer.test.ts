import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { dropSlots, logBasedTap } from '../helpers/log-based.js';
import { TAP_BIN, tmpJson } from '../helpers/run-tap.js';

const CHANGES = 100_000;

/**
 * A consumer that stops reading must stop the change stream all the way back to the server: the tap
 * reads the replication stream only as fast as its stdout drains (it pauses the socket), so its memory
 * does not grow with the number of changes waiting. Seen from the server: the walsender that streams the
 * slot waits on the tap (WalSenderWriteData) for as long as the consumer does; when the consumer reads
 * again, every change arrives.
 */
describe.skipIf(!!nativeSkipReason)('LOG_BASED with a consumer that stops reading (native PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(
      `CREATE TABLE slow (id int PRIMARY KEY, t text NOT NULL); INSERT INTO slow SELECT g, repeat('x', 200) FROM generate_series(1, ${CHANGES}) g;`,
    );
  });
  afterAll(async () => {
    await dropSlots(db);
    await db?.close();
  });

  it('the server waits on the tap while stdout is not read, and every change arrives once it is', async () => {
    const tap = await logBasedTap(db, ['public-slow'], { application_name: 'tap-slow' });
    const first = await tap.run();
    expect(first.code, first.stderr).toBe(0);
    await db.sql(`UPDATE slow SET t = repeat('y', 200)`);

    const child = spawn(process.execPath, [TAP_BIN, '--config', tap.config, '--catalog', tap.catalog, '--state', tmpJson(first.state)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdout.pause(); // the consumer reads nothing yet

    // the walsender that streams the slot blocks on the tap: seen several times in a row, not a passing moment
    let blocked = 0;
    for (let i = 0; i < 1200 && blocked < 5; i++) {
      const rows = await db.sql(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = 'tap-slow log-based changes' AND query LIKE 'START_REPLICATION SLOT%' AND wait_event = 'WalSenderWriteData'`,
      );
      blocked = rows.length > 0 ? blocked + 1 : 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(blocked, stderr).toBe(5);

    let records = 0;
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{"type":"RECORD"')) records++;
    });
    child.stdout.resume();
    expect(await exited, stderr).toBe(0);
    expect(records).toBe(CHANGES);
    // the project's memory target holds while the changes waited
    const peak = Number(/peak RSS ([\d.]+) MB/.exec(stderr)![1]);
    expect(peak).toBeLessThan(150);
  }, 300_000);
});
