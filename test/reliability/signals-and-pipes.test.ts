import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, lastState, parseMessages, records, runTap, select, tmpJson } from '../helpers/run-tap.js';
import { startSilentServer, type SilentServer } from '../helpers/silent-server.js';
import { TapProcess } from './tap-process.js';

const ROWS = 150_000; // ~20 MB of RECORD lines: far more than a pipe (64 kB) and the socket buffers hold
const EVERY = 1000;

/**
 * What happens when the consumer of stdout misbehaves (closes the pipe, reads slowly) or the tap is
 * asked to stop, on a table big enough that the tap is always mid-sync when it happens.
 */
describe.skipIf(nativeSkipReason)('signals and pipes', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: string;
  let sourceIds: number[];
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE big(id int PRIMARY KEY, payload text NOT NULL)`);
    await db.sql(`INSERT INTO big SELECT g, md5(g::text) || repeat('x', 60) FROM generate_series(1, ${ROWS}) g`);
    config = tmpJson({ url: db.url, state_every_n_rows: EVERY });
    catalog = tmpJson(select(await discover(config), { 'public-big': {} }));
    sourceIds = (await db.sql<{ id: number }>('SELECT id FROM big')).map((r) => r.id);
  });
  afterAll(async () => db?.close());

  it('a reader that closes the pipe stops the tap with exit 141, an INFO line and no stack trace', async () => {
    const tap = new TapProcess(['--config', config, '--catalog', catalog]);
    await tap.waitFor((m) => m.type === 'RECORD');
    const closedAt = Date.now();
    tap.child.stdout.destroy();
    const { code } = await tap.exited;
    const ms = Date.now() - closedAt;
    console.log(`EPIPE: the tap exited ${ms} ms after its reader closed the pipe`);
    expect(code, tap.stderr).toBe(141);
    expect(ms).toBeLessThan(5000); // a liveness bound, not a speed target: the full sync takes far longer
    expect(tap.stderr).toMatch(/stdout was closed by the reader/);
    expect(tap.stderr).not.toMatch(/^\s+at /m);
    expect(tap.stderr).not.toMatch(/CRITICAL|Unhandled|Error:/);
  });

  it('a slow reader (about 1 kB/s for 10 s) holds the tap back: its memory stays flat (backpressure)', async () => {
    const tap = new TapProcess(['--config', config, '--catalog', catalog]);
    await tap.waitFor((m) => m.type === 'RECORD');
    tap.pause();
    const samples: number[] = [];
    const started = Date.now();
    while (Date.now() - started < 10_000) {
      tap.child.stdout.read(100); // ~100 bytes per 100 ms
      samples.push(tap.rssMb());
      await new Promise((r) => setTimeout(r, 100));
    }
    const stillRunning = tap.child.exitCode === null;
    tap.child.kill('SIGKILL');
    await tap.exited;
    const warm = samples.slice(20); // after the first 2 s
    const first = warm[0]!;
    const max = Math.max(...warm);
    console.log(
      `slow reader: RSS ${samples[0]!.toFixed(0)} MB at start, ${first.toFixed(0)} MB at 2 s, max ${max.toFixed(0)} MB, ${samples.at(-1)!.toFixed(0)} MB at 10 s`,
    );
    expect(stillRunning).toBe(true); // held back by the pipe, not finished
    expect(max).toBeLessThan(200);
    expect(max - first).toBeLessThan(20); // no steady growth: nothing piles up in the tap's memory
  });

  for (const [signal, exit] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal} mid-sync: STATE for what is complete, exit ${exit}, only complete lines; a resume loses nothing`, async () => {
      const tap = new TapProcess(['--config', config, '--catalog', catalog]);
      let states = 0;
      await tap.waitFor((m) => m.type === 'STATE' && ++states === 3);
      tap.pause(); // the tap now blocks on a full pipe: the signal surely arrives mid-sync
      tap.child.kill(signal);
      await new Promise((r) => setTimeout(r, 300));
      tap.resume();
      const { code } = await tap.exited;
      expect(code, tap.stderr).toBe(exit);
      expect(tap.stdout.endsWith('\n')).toBe(true);
      const first = parseMessages(tap.stdout); // throws on a partial line
      expect(first.at(-1)!.type).toBe('STATE');
      expect(tap.stderr).toMatch(new RegExp(`${signal} received`));
      expect(tap.stderr).toMatch(new RegExp(`CRITICAL stopped by ${signal}`));
      const firstIds = records(first).map((r) => r.id as number);
      expect(firstIds.length).toBeLessThan(ROWS);

      const state = lastState(first)!;
      expect(state.bookmarks['public-big'].last_pk_fetched.id).toBe(firstIds.at(-1));
      const resumed = await runTap(['--config', config, '--catalog', catalog, '--state', tmpJson(state)]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const secondIds = records(resumed.messages).map((r) => r.id as number);
      const all = new Set([...firstIds, ...secondIds]);
      expect(all.size).toBe(ROWS);
      expect([...all].sort((a, b) => a - b)).toEqual(sourceIds.sort((a, b) => a - b));
      const duplicates = firstIds.length + secondIds.length - all.size;
      console.log(`${signal}: ${firstIds.length} records before the stop, ${secondIds.length} after the resume, ${duplicates} duplicates`);
      expect(duplicates).toBe(0); // the STATE written on the stop covers every record emitted
    });
  }
});

/**
 * SIGTERM and SIGINT end a run at any point of its start-up too (issue #31: a root under /proc hung
 * with no output and ignored SIGTERM): nothing is on stdout yet, so the tap stops at once with 143 / 130
 * and one CRITICAL line. None of these reaches a database.
 */
describe('a stop request during start-up', () => {
  let silent: SilentServer;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => silent?.stop());

  /** Starts the tap, sends `signal` once it has been waiting for `waitMs`, and checks it stops within 5 s with `exit`. */
  async function stopDuringStartUp(args: string[], signal: 'SIGTERM' | 'SIGINT', env: Record<string, string> = {}, waitMs = 1500) {
    const tap = new TapProcess(args, env);
    await new Promise((r) => setTimeout(r, waitMs));
    expect(tap.child.exitCode, tap.stderr).toBeNull(); // still starting: the step it waits on never settles
    const sentAt = Date.now();
    tap.child.kill(signal);
    const exit = await Promise.race([tap.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000))]);
    if (exit === 'hung') tap.child.kill('SIGKILL');
    expect(exit, tap.stderr).not.toBe('hung');
    console.log(`${signal} during start-up: exit ${JSON.stringify(exit)} ${Date.now() - sentAt} ms after the signal`);
    expect(tap.stdout).toBe('');
    expect(tap.stderr).toMatch(new RegExp(`${signal} received: stopping before any message`));
    return { tap, exit: exit as { code: number | null; signal: NodeJS.Signals | null } };
  }

  it('SIGTERM while an S3 endpoint accepts and never answers (the root check): exit 143', async () => {
    const config = tmpJson({
      url: 'postgres://nobody@127.0.0.1:1/none',
      batch_config: { encoding: { format: 'jsonl' }, storage: { root: 's3://bucket/path', endpoint_url: silent.endpoint } },
    });
    const { tap, exit } = await stopDuringStartUp(['--config', config, '--catalog', tmpJson({ streams: [] })], 'SIGTERM', {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    });
    expect(exit.code).toBe(143);
    expect(tap.stderr).toMatch(/CRITICAL stopped by SIGTERM during the checks before the sync, before any message was written/);
  });

  it('SIGINT while the database accepts and never answers (discovery): exit 130', async () => {
    const config = tmpJson({ url: `postgres://nobody@127.0.0.1:${silent.port}/none` });
    const { tap, exit } = await stopDuringStartUp(['--config', config, '--discover'], 'SIGINT');
    expect(exit.code).toBe(130);
    expect(tap.stderr).toMatch(/CRITICAL stopped by SIGINT during discovery/);
  });

  it('SIGTERM while a plugin module loads forever: exit 143, not the 30 s load timeout', async () => {
    const config = tmpJson({ url: 'postgres://nobody@127.0.0.1:1/none' });
    const hanging = resolve(__dirname, '../fixtures/hanging-plugin.mjs');
    const { tap, exit } = await stopDuringStartUp(['--config', config, '--discover', '--plugin', hanging], 'SIGTERM');
    expect(exit.code).toBe(143);
    expect(tap.stderr).toMatch(/CRITICAL stopped by SIGTERM during start-up/);
  });

  it('SIGTERM while the config is a FIFO nobody writes: the read blocks a thread, so the signal itself ends the tap', async () => {
    const fifo = join(mkdtempSync(join(tmpdir(), 'tap-fifo-')), 'config.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const { tap, exit } = await stopDuringStartUp(['--config', fifo, '--discover'], 'SIGTERM');
    // process.exit would wait forever for the blocked thread: the default action of the signal ends it, and
    // a shell (or Meltano) reports 143 all the same
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(tap.stderr).toMatch(/CRITICAL stopped by SIGTERM during start-up/);
  });
});
