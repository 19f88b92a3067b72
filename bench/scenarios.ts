import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { psqlCopy, tapContender, tapFiles, tapStage, type Contender, type Target } from './contenders.js';
import { appendToNewestChunk, REPO, type EmbeddedTables } from './data.js';
import { runPipeline, tmpJson, type RunResult } from './measure.js';
import { summarize, type ResultRow } from './report.js';

export type Log = (message: string) => void;

/**
 * Runs contenders alternated (A B C A B C …) so that a burst of load from elsewhere on the machine
 * hits all of them alike, and summarizes each by its median run. A contender that fails is reported
 * with its error, never dropped.
 */
export async function alternate(section: string, contenders: readonly Contender[], rounds: number, log: Log): Promise<ResultRow[]> {
  const runs = new Map<Contender, RunResult[]>(contenders.map((c) => [c, []]));
  const errors = new Map<Contender, string>();
  for (let round = 1; round <= rounds; round++) {
    for (const c of contenders) {
      if (errors.has(c)) continue;
      try {
        const r = await c.run();
        runs.get(c)!.push(r);
        log(
          `  ${section} | ${c.name}: round ${round}: ${r.rows.toLocaleString('en')} rows in ${r.seconds.toFixed(2)} s, ${(r.rows / r.seconds).toFixed(0)} rows/s, RSS ${r.usage[0]!.peakRssMb.toFixed(0)} MB`,
        );
      } catch (err) {
        errors.set(c, (err as Error).message.slice(0, 300));
        log(`  ${section} | ${c.name}: failed: ${(err as Error).message.slice(0, 300)}`);
      }
    }
  }
  return contenders.map((c) =>
    errors.has(c)
      ? { section, name: c.name, table: c.table, skipped: `failed: ${errors.get(c)}` }
      : summarize(section, c.name, c.table, runs.get(c)!, c.note),
  );
}

/** Whether the metrics plugin exists in this build (another developer is writing it). */
export function metricsPluginBuilt(): boolean {
  return existsSync(join(REPO, 'dist/src/plugins/metrics/metrics-plugin.js'));
}

/** Chunk reads of a run: the chunk reader logs one `DEBUG <stream>: chunk <id>: <select>` line per chunk it reads. */
export function chunkReads(stderr: string): number {
  return stderr.split('\n').filter((l) => /^DEBUG \S+: chunk /.test(l)).length;
}

/**
 * INCREMENTAL on the time column of a 200-chunk hypertable: a first run reads every chunk; after rows
 * are added to the newest chunk only, a run from the first run's STATE should read only that chunk.
 */
export async function incrementalScenario(emb: EmbeddedTables, added: number, log: Log): Promise<ResultRow[]> {
  const section = `Incremental on a 200-chunk hypertable (embedded TimescaleDB), ${added} new rows in the newest chunk`;
  const target = { host: emb.engine.host, port: emb.engine.port, database: 'postgres', url: emb.engine.url };
  const files = await tapFiles(target, emb.incremental, {}, 'INCREMENTAL', 'ts');
  const env = { TAP_LOG_LEVEL: 'debug' };
  const full = await runPipeline([tapStage(files, env)]);
  if (!full.lastState) throw new Error('the first incremental run wrote no STATE');
  const state = tmpJson(JSON.parse(full.lastState).value, 'state.json');
  await appendToNewestChunk(emb, added);
  const next = await runPipeline([tapStage(files, env, state)]);
  log(
    `  incremental: first run ${chunkReads(full.stderr)} chunks, ${full.rows} rows; next run ${chunkReads(next.stderr)} chunks, ${next.rows} rows`,
  );
  return [
    summarize(section, 'tap, first run (no state)', emb.incremental, [full], undefined, { 'chunks read': chunkReads(full.stderr) }),
    summarize(
      section,
      'tap, next run (from STATE)',
      emb.incremental,
      [next],
      `speed-up vs first run: ${(full.seconds / next.seconds).toFixed(1)}x (rows = new rows + the bookmark row, re-emitted by >=)`,
      { 'chunks read': chunkReads(next.stderr) },
    ),
  ];
}

/** max_concurrent_chunks 1, 2 and 4 on the natively partitioned table, alternated. */
export async function concurrencyScenario(target: Target, table: string, rounds: number, log: Log): Promise<ResultRow[]> {
  const section = `max_concurrent_chunks on the native partitioned table`;
  const contenders = await Promise.all(
    [1, 2, 4].map((n) => tapContender(`tap, max_concurrent_chunks ${n}`, target, table, { max_concurrent_chunks: n })),
  );
  return alternate(section, contenders, rounds, log);
}

/** Peak RSS of the tap against table size: it must stay flat (the tap streams, it never holds a table). */
export async function rssScenario(target: Target, tables: readonly { table: string; rows: number }[], log: Log): Promise<ResultRow[]> {
  const section = 'Peak RSS of the tap against table size (native plain table)';
  const out: ResultRow[] = [];
  for (const { table } of tables) {
    out.push(...(await alternate(section, [await tapContender('tap FULL_TABLE', target, table)], 1, log)));
  }
  return out;
}

/** The embedded hypertable: this tap FULL_TABLE, with psql's COPY on the same engine as its limit. */
export async function hypertableScenario(emb: EmbeddedTables, rounds: number, log: Log): Promise<ResultRow[]> {
  const section = 'Hypertable on the embedded TimescaleDB (PGlite WASM, one connection)';
  const target = { host: emb.engine.host, port: emb.engine.port, database: 'postgres', url: emb.engine.url };
  return alternate(section, [psqlCopy(target, emb.hypertable), await tapContender('tap FULL_TABLE', target, emb.hypertable)], rounds, log);
}
