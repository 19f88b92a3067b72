import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, parseMessages, select, tmpJson } from '../helpers/run-tap.js';
import { TapProcess } from './tap-process.js';

const ROWS = 150_000; // ~20 MB of RECORD lines: the tap is always mid-write when the signals come

/**
 * A second SIGTERM exits without waiting for the batch, but never cuts a line: a write the OS has
 * only part of was left half-written when process.exit dropped the rest (issue #21).
 */
describe.skipIf(nativeSkipReason)('a second signal while the target is not reading', () => {
  let db: TestDatabase;
  let config: string;
  let catalog: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE big(id int PRIMARY KEY, payload text NOT NULL);
      INSERT INTO big SELECT g, md5(g::text) || repeat('x', 200) FROM generate_series(1, ${ROWS}) g`);
    config = tmpJson({ url: db.url, state_every_n_rows: 1000 });
    catalog = tmpJson(select(await discover(config), { 'public-big': {} }));
  });
  afterAll(async () => db?.close());

  for (const trial of [1, 2, 3]) {
    it(`exits 143 with only complete lines on stdout (trial ${trial})`, async () => {
      const tap = new TapProcess(['--config', config, '--catalog', catalog]);
      let states = 0;
      await tap.waitFor((m) => m.type === 'STATE' && ++states === 2 + trial);
      tap.pause(); // the pipe fills: the tap holds a write the OS has taken only part of
      await new Promise((r) => setTimeout(r, 300));
      tap.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      tap.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      tap.resume();
      const { code } = await tap.exited;
      expect(code, tap.stderr).toBe(143);
      expect(tap.stdout.endsWith('\n'), tap.stdout.slice(-200)).toBe(true);
      expect(() => parseMessages(tap.stdout)).not.toThrow();
    });
  }
});
