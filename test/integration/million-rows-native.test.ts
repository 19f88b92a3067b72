import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, select, TAP_BIN, tmpJson } from '../helpers/run-tap.js';
import { SingerRules } from '../helpers/singer-rules.js';

const ROWS = 1_000_000;

/** The first 15 hex digits of a row's md5 as an integer: summed, an order-independent checksum of a column. */
const rowHash = (text: string) => BigInt('0x' + createHash('md5').update(text, 'utf8').digest('hex').slice(0, 15));

/**
 * A million rows through the CLI, FULL_TABLE: the count, the sum of ids and checksums of a text column
 * (one in key order, one order-independent) equal what the server computes from the table itself.
 * stdout is read line by line (a million parsed records would not fit comfortably in a test worker),
 * and the Singer rules are checked on every line as it comes.
 */
describe.skipIf(nativeSkipReason !== undefined)('a table of 1,000,000 rows on the native server', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await nativeDatabase();
    // payloads with the characters COPY and JSON escape (tab, quote, backslash) and non-ASCII
    await db.sql(`CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL, ts timestamptz NOT NULL);
                  INSERT INTO big SELECT g, 'row ' || g || E'\\t"ü\\\\' || repeat(chr(97 + g % 26), g % 13), '2024-01-01'::timestamptz + g * interval '1 second'
                    FROM generate_series(1, ${ROWS}) g;`);
  }, 300_000);
  afterAll(async () => db?.close());

  it('syncs every row: count, sum of ids and checksums of a text column equal the source', async () => {
    const config = tmpJson({ url: db.url });
    const catalog = tmpJson(select(await discover(config), { 'public-big': {} }));
    const child = spawn(process.execPath, [TAP_BIN, '--config', config, '--catalog', catalog], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));

    const rules = new SingerRules({ complete: true });
    const ordered = createHash('md5');
    let count = 0;
    let idSum = 0n;
    let hashSum = 0n;
    let lastId = 0;
    let outOfOrder = 0;
    let sinceState = 0;
    let widestGap = 0;
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      rules.line(line);
      if (line.startsWith('{"type":"STATE"')) {
        widestGap = Math.max(widestGap, sinceState);
        sinceState = 0;
      }
      if (!line.startsWith('{"type":"RECORD"')) continue;
      sinceState++;
      const { id, payload } = JSON.parse(line).record as { id: number; payload: string };
      count++;
      idSum += BigInt(id);
      if (id <= lastId) outOfOrder++;
      lastId = id;
      ordered.update(payload + '\n', 'utf8');
      hashSum += rowHash(payload);
    }
    expect(await exited, stderr).toBe(0);
    expect(rules.end()).toEqual([]);

    const [source] = await db.sql<{ n: string; ids: string; ordered: string; hashes: string }>(`
      SELECT count(*)::text AS n, sum(id)::text AS ids,
             md5(string_agg(payload || E'\\n', '' ORDER BY id)) AS ordered,
             sum(('x' || substr(md5(payload), 1, 15))::bit(60)::bigint)::text AS hashes
        FROM big`);
    expect(count).toBe(Number(source!.n));
    expect(count).toBe(ROWS);
    expect(idSum.toString()).toBe(source!.ids);
    expect(outOfOrder).toBe(0);
    expect(ordered.digest('hex')).toBe(source!.ordered);
    expect(hashSum.toString()).toBe(source!.hashes);
    // STATE follows the batch that reaches state_every_n_rows (10,000 by default), and a batch never
    // holds more than that many rows: no more than 2 x 10,000 records between two STATEs
    expect(widestGap).toBeGreaterThan(0);
    expect(widestGap).toBeLessThan(20_000);
  }, 300_000);
});
