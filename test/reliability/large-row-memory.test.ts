import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, records, select, tmpJson } from '../helpers/run-tap.js';
import { TapProcess } from './tap-process.js';

const ROW_MB = 200;

/**
 * memory_warn_mb (the metrics plugin) for a single large row (issue #31): the RSS was read only at a
 * chunk's end and on the progress display's tick, and a 500 MB row took the tap to 1.47 GB and back in
 * between, unwarned. The check now runs per batch: a large row is a large batch.
 */
describe.skipIf(nativeSkipReason)('the memory warning and a single large row', () => {
  let db: TestDatabase;
  let config: (extra: Record<string, unknown>) => string;
  let catalog: string;
  beforeAll(async () => {
    db = await nativeDatabase();
    await db.sql(`CREATE TABLE big_row(id int PRIMARY KEY, payload text NOT NULL)`);
    // stored uncompressed (no TOAST compression) so the server sends it as it is, 200 MB
    await db.sql(`ALTER TABLE big_row ALTER COLUMN payload SET STORAGE EXTERNAL`);
    await db.sql(`INSERT INTO big_row VALUES (1, 'a'), (2, repeat('x', ${ROW_MB} * 1024 * 1024)), (3, 'c')`);
    config = (extra) => tmpJson({ url: db.url, ...extra });
    catalog = tmpJson(select(await discover(config({})), { 'public-big_row': {} }));
  });
  afterAll(async () => db?.close());

  it(`a ${ROW_MB} MB row takes the tap past memory_warn_mb: one warning, and the records are whole`, async () => {
    // a threshold between the tap's size at rest (~100 MB) and its size holding the row (its bytes at least twice:
    // as read and as the record line)
    const tap = new TapProcess(['--config', config({ memory_warn_mb: 300, progress: 'off' }), '--catalog', catalog]);
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, tap.rssMb());
      } catch {
        /* exited */
      }
    }, 20);
    const { code } = await tap.exited;
    clearInterval(sampler);
    expect(code, tap.stderr.slice(-2000)).toBe(0);
    const summary = /peak RSS ([\d.]+) (MB|GB)/.exec(tap.stderr);
    console.log(`large row: peak RSS sampled ${peak.toFixed(0)} MB; summary says ${summary?.[0]}`);
    expect(records(tap.messages).map((r) => r.id)).toEqual([1, 2, 3]);
    expect(tap.messages.find((m) => m.type === 'RECORD' && m.record.id === 2)!.record.payload.length).toBe(ROW_MB * 1024 * 1024);
    expect(tap.stderr.match(/^WARN memory: the tap's RSS is .* past memory_warn_mb \(300 MB\)/gm), tap.stderr.slice(-2000)).toHaveLength(1);
  });
});
