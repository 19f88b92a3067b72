import { tapContender, tapFiles, tapStage, type Target } from './contenders.js';
import { runPipeline, tmpJson, type RunResult } from './measure.js';
import { summarize, type ResultRow } from './report.js';
import type { Log } from './scenarios.js';
import { chunkCounts, TIMESCALE_TABLES, type Sql } from './timescale-tables.js';

/** The bench's own slot: dropped at the end (and before, if an earlier run was cut short), so no WAL stays retained. */
export const BENCH_SLOT = 'tap_timescaledb_bench';
const PUBLICATION = 'tap_timescaledb_bench';

async function dropSlot(sql: Sql): Promise<void> {
  await sql(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${BENCH_SLOT}'`);
}

/**
 * Issue #15's line: LOG_BASED on a native hypertable with a key. A first run makes the initial copy (and
 * the slot); then, each round, one UPDATE changes every row and the next LOG_BASED run, from the previous
 * run's STATE, decodes and emits those changes (timed: changes/s); FULL_TABLE of the same table runs in
 * the same round for comparison. Every changed row must come out as one RECORD, or the run is reported
 * as failed. The table is vacuumed after each UPDATE (outside the timing), so FULL_TABLE reads no dead rows.
 */
export async function logBasedSection(target: Target, sql: Sql, rounds: number, log: Log): Promise<ResultRow[]> {
  const table = TIMESCALE_TABLES.changes;
  const n = Number((await sql(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  const { chunks } = await chunkCounts(sql, table);
  const section = `LOG_BASED on a native hypertable (${n.toLocaleString('en')} rows, ${chunks} chunks, PRIMARY KEY (device_id, ts)): every row updated between runs`;
  log(`section: ${section}`);
  await dropSlot(sql);
  // what the tap asks of a DBA before it publishes the chunks' schema: the hypertables there without a key
  // (the bench's keyless one) get a replica identity, or their UPDATE and DELETE would be rejected
  const keyless = await sql(
    `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM _timescaledb_catalog.hypertable h
       JOIN pg_namespace n ON n.nspname = h.schema_name JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = h.table_name
      WHERE h.compression_state <> 2 AND c.relreplident = 'd'
        AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)`,
  );
  for (const r of keyless) {
    log(`  ALTER TABLE ${String(r.t)} REPLICA IDENTITY FULL (a hypertable without a key, in the schema LOG_BASED publishes)`);
    await sql(`ALTER TABLE ${String(r.t)} REPLICA IDENTITY FULL`);
  }
  const extra = { replication_slot: BENCH_SLOT, publication: PUBLICATION };
  const files = await tapFiles(target, table, extra, 'LOG_BASED');
  const full = await tapContender('tap FULL_TABLE (same table)', target, table);
  const changeRuns: RunResult[] = [];
  const fullRuns: RunResult[] = [];
  try {
    const first = await runPipeline([tapStage(files)]);
    log(`  LOG_BASED first run (initial copy): ${first.rows.toLocaleString('en')} rows in ${first.seconds.toFixed(2)} s`);
    let state = first.lastState;
    for (let round = 1; round <= rounds; round++) {
      if (!state) throw new Error('the LOG_BASED run wrote no STATE');
      const t0 = Date.now();
      await sql(`UPDATE ${table} SET value = random(), status = (status + 1) % 7`);
      const updateSeconds = (Date.now() - t0) / 1000;
      await sql(`VACUUM (FREEZE, ANALYZE) ${table}`);
      const r = await runPipeline([tapStage(files, {}, tmpJson(JSON.parse(state).value, 'state.json'))]);
      if (r.rows !== n) throw new Error(`the LOG_BASED run emitted ${r.rows} records for ${n} updated rows`);
      changeRuns.push(r);
      state = r.lastState;
      const f = await full.run();
      fullRuns.push(f);
      log(
        `  round ${round}: UPDATE of ${n} rows ${updateSeconds.toFixed(1)} s; LOG_BASED ${r.rows} changes in ${r.seconds.toFixed(2)} s (${(r.rows / r.seconds).toFixed(0)}/s); FULL_TABLE ${f.rows} rows in ${f.seconds.toFixed(2)} s`,
      );
    }
    const fullRow = summarize(section, full.name, table, fullRuns);
    const note = 'rows = changes decoded from the WAL and emitted (one RECORD per updated row, counted)';
    const changes = summarize(section, 'tap LOG_BASED, next run (the UPDATE)', table, changeRuns, note);
    const share = `${((changes.rowsPerSec! / fullRow.rowsPerSec!) * 100).toFixed(0)}%`;
    const out = [
      summarize(
        section,
        'tap LOG_BASED, first run (initial copy)',
        table,
        [first],
        'creates the slot, copies the table in its exported snapshot',
      ),
      { ...changes, extra: { 'changes/s over FULL_TABLE rows/s': share } },
      fullRow,
    ];
    return out;
  } finally {
    await dropSlot(sql);
    await sql(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
  }
}
