import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { discover, selectTable, tapPath, type Target } from './contenders.js';
import { tmpJson } from './measure.js';
import type { ResultRow } from './report.js';
import type { Log } from './scenarios.js';
import type { Sql } from './timescale-tables.js';

const SLOT = 'tap_timescaledb_bench_decode';
const REFERENCE = 'tap_timescaledb_bench_decode_ref';
const PUBLICATION = 'tap_timescaledb_bench_decode';
const MANY = 20;

/** One tap run as this section measures it: the tap's own process, its stdout read here. */
interface TapRun {
  readonly records: number;
  readonly seconds: number;
  /** from the start of the process to its first RECORD line */
  readonly firstRecord?: number;
  readonly peakRssMb: number;
  readonly tempBytes: number;
  /** bytes the server's reorder buffer spilled to disk during the run (pg_stat_replication_slots) */
  readonly spillBytes: number;
  readonly state: unknown;
}

/**
 * Issue #32's lines: the LOG_BASED read through the streaming replication protocol, side by side with
 * what the server itself needs to decode the same range (`count(*)` of pg_logical_slot_peek_binary_changes
 * on a slot created at the same point) and with pg_recvlogical streaming it to /dev/null; 1, 5 and 20
 * streams over the same WAL; the time to the first RECORD for 1M and 3M backlogs; the server's temp and
 * spill bytes and the tap's peak RSS per run; the run after a big one (nothing to emit).
 */
export async function logBasedDecodeSection(target: Target, sql: Sql, rows: number, log: Log): Promise<ResultRow[]> {
  const section = `LOG_BASED decode (${rows.toLocaleString('en')} changes per backlog): streamed, one pass for every stream`;
  log(`section: ${section}`);
  const out: ResultRow[] = [];
  const row = (
    name: string,
    r: TapRun | { seconds: number; records: number },
    note?: string,
    extra?: Record<string, number | string>,
  ): void => {
    const tap = 'peakRssMb' in r ? r : undefined;
    out.push({
      section,
      name,
      table: 'decode_*',
      rows: r.records,
      seconds: r.seconds,
      rowsPerSec: r.records / r.seconds,
      ...(tap ? { peakRssMb: tap.peakRssMb } : {}),
      ...(note ? { note } : {}),
      extra: {
        ...(tap
          ? {
              'first RECORD s': tap.firstRecord === undefined ? '-' : tap.firstRecord.toFixed(2),
              'server temp MB': (tap.tempBytes / 1e6).toFixed(1),
              'reorder spill MB': (tap.spillBytes / 1e6).toFixed(1),
            }
          : {}),
        ...extra,
      },
    });
    log(
      `  ${name}: ${r.records} in ${r.seconds.toFixed(2)} s${tap ? `, first RECORD ${tap.firstRecord?.toFixed(2) ?? '-'} s, RSS ${tap.peakRssMb.toFixed(0)} MB, temp ${(tap.tempBytes / 1e6).toFixed(0)} MB, spill ${(tap.spillBytes / 1e6).toFixed(0)} MB` : ''}`,
    );
  };
  await cleanUp(sql);
  try {
    const per = Math.floor(rows / MANY);
    await sql(`CREATE TABLE decode_one (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL)`);
    await sql(`INSERT INTO decode_one SELECT g, 0, md5(g::text) FROM generate_series(1, ${rows}) g`);
    for (let i = 1; i <= MANY; i++) {
      await sql(`CREATE TABLE decode_many_${i} (id bigint PRIMARY KEY, v int NOT NULL, s text NOT NULL)`);
      await sql(`INSERT INTO decode_many_${i} SELECT g, 0, md5(g::text) FROM generate_series(1, ${per}) g`);
    }
    await sql(`VACUUM ANALYZE`);
    const config = tmpJson({ url: target.url, sslmode: 'disable', replication_slot: SLOT, publication: PUBLICATION }, 'config.json');
    const discovered = await discover(process.execPath, [tapPath(), '--config', config, '--discover']);
    const catalog = (tables: string[]): string => {
      const streams = tables.map((t) =>
        structuredClone(
          selectTable(discovered, t, 'LOG_BASED').streams.find((s) =>
            s.metadata.some((m) => m.breadcrumb.length === 0 && m.metadata.selected === true),
          ),
        ),
      );
      return tmpJson({ streams }, 'catalog.json');
    };
    const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `public.decode_many_${i + 1}`);
    const all = catalog(['public.decode_one', ...many(MANY)]);
    const one = catalog(['public.decode_one']);
    const tap = (cat: string, state: unknown): Promise<TapRun> => runTap(sql, config, cat, state);
    const first = await tap(all, undefined);
    log(`  initial copy of ${MANY + 1} streams: ${first.records} rows in ${first.seconds.toFixed(1)} s`);
    let state = first.state;
    const catchUp = async (from: unknown): Promise<void> => {
      state = (await tap(all, from)).state;
    };

    // one stream, one transaction of `rows` changes; the same range read by the server alone and by pg_recvlogical
    for (const [label, update] of [
      ['1 transaction', `UPDATE decode_one SET v = v + 1`],
      ['1,000 transactions', `CALL decode_bench_batches(${Math.max(1, Math.floor(rows / 1000))})`],
    ] as const) {
      await sql(`CREATE OR REPLACE PROCEDURE decode_bench_batches(size int) LANGUAGE plpgsql AS $$
        DECLARE lo bigint := 1; BEGIN
          WHILE lo <= (SELECT max(id) FROM decode_one) LOOP
            UPDATE decode_one SET v = v + 1 WHERE id >= lo AND id < lo + size; COMMIT; lo := lo + size;
          END LOOP; END $$`);
      await sql(`SELECT pg_create_logical_replication_slot('${REFERENCE}', 'pgoutput')`);
      await sql(update);
      const end = String((await sql(`SELECT pg_current_wal_insert_lsn()::text AS l`))[0]!.l);
      const t0 = Date.now();
      const decoded = Number(
        (
          await sql(
            `SELECT count(*) AS n FROM pg_logical_slot_peek_binary_changes('${REFERENCE}', NULL, NULL, 'proto_version', '1', 'publication_names', '"${PUBLICATION}"', 'messages', 'true')`,
          )
        )[0]!.n,
      );
      row(
        `server decode alone, ${label} (count of peek_binary_changes)`,
        { records: decoded, seconds: (Date.now() - t0) / 1000 },
        'every message: BEGIN and COMMIT included',
      );
      const r0 = Date.now();
      const recv = spawnSync(
        'pg_recvlogical',
        [
          '-d',
          target.url,
          '-S',
          REFERENCE,
          '--start',
          '-E',
          end,
          '-o',
          'proto_version=1',
          '-o',
          `publication_names=${PUBLICATION}`,
          '-f',
          '/dev/null',
          '--no-loop',
        ],
        { encoding: 'utf8' },
      );
      if (recv.status !== 0) throw new Error(`pg_recvlogical: ${recv.stderr}`);
      row(
        `pg_recvlogical > /dev/null, ${label}`,
        { records: rows, seconds: (Date.now() - r0) / 1000 },
        'rows = the changes in the range; it stops at the first keepalive past the end (status every 1 s)',
      );
      await sql(`SELECT pg_drop_replication_slot('${REFERENCE}')`);
      const r = await tap(one, state);
      row(`tap LOG_BASED, 1 stream, ${label}`, r);
      await catchUp(r.state);
    }

    // the run after: the state confirms what the last run emitted; nothing new to emit
    const quiet = await tap(one, state);
    row(
      'tap LOG_BASED, the run after (0 changes)',
      quiet,
      'the state confirms the last run: how much of its range the server decodes again',
    );
    state = quiet.state;
    await catchUp(state);

    // 1, 5, 20 streams over the same WAL: every decode_many_* updated, and decode_one too (the 1-stream line of the same size)
    await sql(`UPDATE decode_one SET v = v + 1`);
    for (let i = 1; i <= MANY; i++) await sql(`UPDATE decode_many_${i} SET v = v + 1`);
    for (const n of [1, 5, MANY]) row(`tap LOG_BASED, ${n} of ${MANY} streams (${n * per} changes)`, await tap(catalog(many(n)), state));
    const alone = await tap(one, state);
    row(`tap LOG_BASED, 1 stream of the same ${rows} changes (same WAL)`, alone);
    await catchUp(state);

    // time to the first RECORD with a 3x backlog (of 1,000-row transactions: the first RECORD of a
    // single large one waits for the server to decode it up to its commit, whatever the reader)
    for (let i = 0; i < 3; i++) await sql(`CALL decode_bench_batches(1000)`);
    row(`tap LOG_BASED, 1 stream, backlog of ${3 * rows} changes (1,000-row transactions)`, await tap(one, state));
    return out;
  } finally {
    await cleanUp(sql);
  }
}

async function cleanUp(sql: Sql): Promise<void> {
  await sql(
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('${SLOT}', '${SLOT}_batch', '${REFERENCE}')`,
  );
  await sql(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
  await sql(`DROP TABLE IF EXISTS decode_one`);
  for (let i = 1; i <= MANY; i++) await sql(`DROP TABLE IF EXISTS decode_many_${i}`);
}

/** Runs the tap; counts RECORD lines, times the first, keeps the last STATE; peak RSS from /proc (VmHWM). */
async function runTap(sql: Sql, config: string, catalog: string, state: unknown): Promise<TapRun> {
  const before = await serverCounters(sql);
  const args = [tapPath(), '--config', config, '--catalog', catalog, ...(state ? ['--state', tmpJson(state, 'state.json')] : [])];
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      /* exited */
    }
  }, 50);
  let records = 0;
  let firstRecord: number | undefined;
  let last: unknown;
  let rest = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('{"type":"RECORD"')) {
        records++;
        firstRecord ??= Number(process.hrtime.bigint() - t0) / 1e9;
      } else if (line.startsWith('{"type":"STATE"')) last = (JSON.parse(line) as { value: unknown }).value;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(poll);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`the tap exited ${code}: ${stderr}`);
  const after = await serverCounters(sql);
  return {
    records,
    seconds,
    firstRecord,
    peakRssMb: peak,
    tempBytes: after.temp - before.temp,
    spillBytes: after.spill - before.spill,
    state: last,
  };
}

async function serverCounters(sql: Sql): Promise<{ temp: number; spill: number }> {
  await sql(`SELECT pg_stat_clear_snapshot()`);
  const r = await sql(
    `SELECT (SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()) AS temp,
            (SELECT coalesce(sum(spill_bytes), 0) FROM pg_stat_replication_slots WHERE slot_name LIKE '${SLOT}%') AS spill`,
  );
  return { temp: Number(r[0]!.temp), spill: Number(r[0]!.spill) };
}
