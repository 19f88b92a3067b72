import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import {
  embeddedDatabase,
  nativeDatabase,
  nativeSkipReason,
  nativeTimescaleDatabase,
  nativeTimescaleSkipReason,
  type TestDatabase,
} from '../helpers/databases.js';
import { discover, lastState, records, runTap, runTapUntilKilled, select, tmpJson } from '../helpers/run-tap.js';
import { mostCopiesAtOnce } from '../helpers/copy-watcher.js';

const STOP_PLUGIN = resolve(__dirname, '../fixtures/stop-and-count-plugin.mjs');
const AHEAD = 'reading the next page range ahead on a second connection (chunk_prefetch)';
const STREAM = 'public-readings';

/**
 * The messages without what differs from run to run (time_extracted, a FULL_TABLE run's version, the
 * snapshot's oldest running transaction that a page bookmark keeps), one JSON text each.
 */
function comparable(messages: Record<string, any>[]): string[] {
  const version = messages.find((m) => m.type === 'ACTIVATE_VERSION')?.version as number | undefined;
  return messages.map((m) => {
    const text = JSON.stringify(m.type === 'RECORD' ? { ...m, time_extracted: undefined } : m);
    const xmin = text.replace(/"xmin":\d+/g, '"xmin":"XMIN"');
    return version === undefined ? xmin : xmin.replaceAll(String(version), 'VERSION');
  });
}

/** The first message that differs, briefly (a failed toEqual on 300,000 messages is too big to report). */
function firstDifference(a: string[], b: string[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (a[i] !== b[i]) return `message ${i} of ${a.length} and ${b.length}: ${a[i]?.slice(0, 300)} | ${b[i]?.slice(0, 300)}`;
  return undefined;
}

/** comparable() of the RECORDs and the STATE after each range: a stream start's or end's STATE may be skipped (state-output.ts), by timing. */
function afterRecords(messages: Record<string, any>[]): string[] {
  const texts = comparable(messages);
  return texts.filter((_, i) => messages[i]!.type === 'RECORD' || (messages[i]!.type === 'STATE' && messages[i - 1]?.type === 'RECORD'));
}

const servers = [
  { label: 'native PostgreSQL', skip: nativeSkipReason, open: nativeDatabase },
  { label: 'native TimescaleDB', skip: process.env.CI ? undefined : nativeTimescaleSkipReason, open: nativeTimescaleDatabase },
];

/**
 * chunk_prefetch on a keyed table read in page ranges: the next range's COPY runs on a second connection
 * that imported the first one's exported snapshot. What must not change: the output, message for message,
 * the resume after a kill; and a lost second connection must cost a retry, never a range.
 */
for (const server of servers) {
  describe.skipIf(server.skip !== undefined)(`page ranges read ahead (${server.label})`, () => {
    let db: TestDatabase;
    let catalog: string;
    const rowsOf = (messages: Record<string, any>[]): string[] =>
      records(messages, STREAM).map((r) => `${r.device_id}|${new Date(r.ts).toISOString()}|${r.value}`);
    const sourceIso = async (): Promise<string[]> =>
      (await db.sql<{ device_id: number; ts: Date; value: number }>(`SELECT device_id, ts, value FROM readings`)).map(
        (r) => `${r.device_id}|${r.ts.toISOString()}|${r.value}`,
      );
    const config = (extra: Record<string, unknown> = {}): string => tmpJson({ url: db.url, state_every_n_rows: 5000, ...extra });

    beforeAll(async () => {
      db = await server.open();
      // a time series keyed by (device_id, ts), inserted in time order: the key is scattered over ~5,000 pages
      await db.sql(`
        CREATE TABLE readings (device_id int, ts timestamptz, value float8, pad text, PRIMARY KEY (device_id, ts));
        INSERT INTO readings SELECT i % 500, '2024-01-01'::timestamptz + i * interval '1234 milliseconds', (i % 100003) * 0.37 + 0.5,
            repeat('p', 80) FROM generate_series(1, 300000) i;`);
      await db.sql(`VACUUM ANALYZE readings`);
      catalog = tmpJson(select(await discover(config()), { [STREAM]: {} }));
    }, 120_000);
    afterAll(async () => db?.close());

    it('the same RECORDs and STATEs in the same order with chunk_prefetch on and off; two range COPYs at once only with it on', async () => {
      const [{ pages }] = await db.sql<{ pages: number }>(`SELECT relpages AS pages FROM pg_class WHERE relname = 'readings'`);
      expect(pages, 'page ranges of 1024 pages: several').toBeGreaterThan(4 * 1024);
      const run = (prefetch: boolean) => {
        const app = `tap-ranges-${prefetch}`;
        const args = ['--config', config({ chunk_prefetch: prefetch, application_name: app }), '--catalog', catalog];
        return mostCopiesAtOnce(db.url, app, ['active', 'idle in transaction'], () => runTap(args, { env: { TAP_LOG_LEVEL: 'debug' } }));
      };
      const on = await run(true);
      const off = await run(false);
      expect(on.result.code, on.result.stderr).toBe(0);
      expect(off.result.code, off.result.stderr).toBe(0);
      expect(on.result.stderr).toContain(`${STREAM}: page ranges: the key is scattered over the pages`);
      expect(on.result.stderr).toContain(AHEAD);
      expect(off.result.stderr).not.toContain(AHEAD);
      expect(firstDifference(rowsOf(on.result.messages).sort(), (await sourceIso()).sort())).toBeUndefined();
      const ranges = new Set(
        on.result.messages.filter((m) => m.type === 'STATE').map((m) => m.value.bookmarks[STREAM]?.pages?.done_before),
      );
      expect(ranges.size, 'a STATE after each range').toBeGreaterThan(4);
      expect(firstDifference(afterRecords(on.result.messages), afterRecords(off.result.messages))).toBeUndefined();
      expect(on.most, 'range COPYs open at once with chunk_prefetch').toBe(2);
      expect(off.most, 'range COPYs open at once without').toBe(1);
    }, 120_000);

    it('SIGKILL mid-read with the read ahead running, then resume from the last STATE: no row lost', async () => {
      const args = ['--config', config(), '--catalog', catalog];
      const killed = await runTapUntilKilled(
        args,
        (m) => m.type === 'STATE' && (m.value.bookmarks[STREAM]?.pages?.done_before ?? 0) >= 2048,
      );
      expect(killed.killed, killed.stderr).toBe(true);
      expect(killed.stderr).toContain(AHEAD);
      const state = lastState(killed.messages)!;
      const resumed = await runTap([...args, '--state', tmpJson(state)]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const emitted = new Set([...rowsOf(killed.messages), ...rowsOf(resumed.messages)]);
      expect((await sourceIso()).filter((r) => !emitted.has(r))).toEqual([]);
      // the resumed run starts at the bookmark's page: rows of earlier ranges are not sent again
      const [rest] = await db.sql<{ n: string }>(
        `SELECT count(*) AS n FROM readings WHERE ctid >= '(${state.bookmarks[STREAM].pages.done_before},0)'`,
      );
      expect(rowsOf(resumed.messages).length).toBe(Number(rest!.n));
    }, 120_000);

    it('the second connection killed mid-read: retried from the last range, no row lost', async () => {
      const app = `tap-ranges-kill-${randomBytes(3).toString('hex')}`;
      const args = ['--config', config({ application_name: app, retry_initial_delay_ms: 50 }), '--catalog', catalog];
      // once range 2 (pages 2048-3071) is written on the first connection, range 3 is read ahead on the
      // second: terminate that one, the later of the two COPYs its application has open
      const killAhead = async (): Promise<number | undefined> => {
        for (let i = 0; i < 400; i++) {
          const [ahead] = await db.sql<{ pid: number; page: number; open: number }>(
            `SELECT pid, substring(query from 'ctid >= ''\\((\\d+),0\\)')::int AS page, count(*) OVER ()::int AS open FROM pg_stat_activity
              WHERE application_name = $1 AND query LIKE 'COPY%ctid >=%' ORDER BY page DESC LIMIT 1`,
            [app],
          );
          if (ahead && ahead.open === 2 && ahead.page >= 3072) {
            await db.sql(`SELECT pg_terminate_backend($1)`, [ahead.pid]);
            return ahead.page;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        return undefined;
      };
      let killing: Promise<number | undefined> | undefined;
      const run = await runTapUntilKilled(args, (m) => {
        if (!killing && m.type === 'STATE' && (m.value.bookmarks[STREAM]?.pages?.done_before ?? 0) >= 2048) killing = killAhead();
        return false;
      });
      const killedAt = await killing;
      expect(killedAt, 'the COPY ahead was found and terminated').toBe(3072);
      expect(run.stderr).toMatch(new RegExp(`WARN ${STREAM}: .* retry 1/4`));
      expect(lastState(run.messages)!.currently_syncing).toBeNull();
      const emitted = new Set(rowsOf(run.messages));
      expect((await sourceIso()).filter((r) => !emitted.has(r))).toEqual([]);
    }, 120_000);

    it('a plugin stops the sync mid-range: both reading connections are released before the process ends', async () => {
      const plugins = [{ module: STOP_PLUGIN, options: { stopAfterRows: 100_000 } }];
      const app = `tap-ranges-stop-${randomBytes(3).toString('hex')}`;
      const run = await runTap(['--config', config({ application_name: app, plugins }), '--catalog', catalog]);
      expect(run.code, run.stderr).toBe(6);
      expect(run.stderr).toContain(AHEAD);
      expect(run.stderr).toMatch(/stop-and-count: stopped after 10\d{4} rows/);
      expect(run.stderr).toContain('INFO stop-and-count: 0 busy connections after the stop');
    }, 120_000);

    it('no second connection to be had (the role at its connection limit): a warning, the ranges read on one, every row', async () => {
      const role = `tap_one_${randomBytes(3).toString('hex')}`;
      await db.sql(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1; GRANT SELECT ON readings TO ${role}`);
      try {
        const url = new URL(db.url);
        url.username = role;
        url.password = '';
        const run = await runTap(['--config', tmpJson({ url: url.toString(), state_every_n_rows: 5000 }), '--catalog', catalog]);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toMatch(
          new RegExp(
            `WARN ${STREAM}: no second connection to read the next page range ahead \\(.*too many connections.*\\): reading them on one`,
          ),
        );
        expect(rowsOf(run.messages).sort()).toEqual((await sourceIso()).sort());
      } finally {
        await db.sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    }, 120_000);
  });
}

/** PGlite takes one connection at a time: page ranges there are read on it alone, without a warning. */
describe('page ranges on the embedded engine: no read ahead', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await embeddedDatabase();
    await db.sql(`CREATE TABLE readings (device_id int, ts timestamptz, value float8, PRIMARY KEY (device_id, ts));
      INSERT INTO readings SELECT i % 50, '2024-01-01'::timestamptz + i * interval '1 second', i FROM generate_series(1, 20000) i;
      ANALYZE readings;`);
  }, 120_000);
  afterAll(async () => db?.close());

  it('every row, in page ranges, on one connection', async () => {
    const config = tmpJson({ url: db.url });
    const run = await runTap(['--config', config, '--catalog', tmpJson(select(await discover(config), { [STREAM]: {} }))], {
      env: { TAP_LOG_LEVEL: 'debug' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`${STREAM}: page ranges: the key is scattered over the pages`);
    expect(run.stderr).not.toContain(AHEAD);
    expect(run.stderr).not.toContain('WARN');
    expect(
      records(run.messages, STREAM)
        .map((r) => r.value as number)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 20000 }, (_, i) => i + 1));
  }, 120_000);
});
