import { tapFiles, tapStage, type Contender, type Target } from './contenders.js';
import { machineCpu, runPipeline, type RunResult } from './measure.js';
import { relate, type ResultRow } from './report.js';
import { alternate, type Log } from './scenarios.js';
import { chunkCounts, TIMESCALE_TABLES, type Sql } from './timescale-tables.js';

/** shard_count values the section compares, each shard a process of its own, all started at once */
export const SHARD_COUNTS = [1, 2, 4] as const;
const shardsName = (n: number): string => `tap, ${n} shard${n > 1 ? 's' : ''} at once`;

/**
 * `count` tap processes, shard_index 0 to count - 1, started together as an orchestrator starts them:
 * the wall time is until the last one ends, rows and CPU-s are summed over them (each one's rusage), the
 * peak RSS is the largest one's, and the machine's CPU-s (the server's included) are taken over the whole.
 */
async function shardsContender(target: Target, table: string, count: number): Promise<Contender> {
  const files: { config: string; catalog: string }[] = [];
  for (let i = 0; i < count; i++)
    files.push(await tapFiles(target, table, { shard_index: i, shard_count: count, activate_version: false }));
  return {
    name: shardsName(count),
    table,
    note: 'rows, CPU-s: summed over the shard processes; RSS: the largest one; wall: until the last one ends',
    run: async (): Promise<RunResult> => {
      const cpuBefore = machineCpu();
      const started = process.hrtime.bigint();
      const runs = await Promise.all(files.map((f) => runPipeline([tapStage(f)])));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuAfter = machineCpu();
      return {
        rows: runs.reduce((t, r) => t + r.rows, 0),
        bytes: runs.reduce((t, r) => t + r.bytes, 0),
        seconds,
        usage: [
          {
            cpuSeconds: runs.reduce((t, r) => t + r.usage[0]!.cpuSeconds, 0),
            peakRssMb: Math.max(...runs.map((r) => r.usage[0]!.peakRssMb)),
          },
        ],
        stderr: runs.map((r) => r.stderr).join('\n'),
        machineCpuSeconds: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
      };
    },
  };
}

/**
 * Issue #36's line: the native hypertable read by 1, 2 and 4 shard processes at once, wall and CPU side
 * by side (alternated rounds, medians). What it can show depends on the cores: with the server on the
 * same machine, shards only add processes competing for the same CPUs.
 */
export async function shardsSection(target: Target, sql: Sql, rounds: number, log: Log): Promise<ResultRow[]> {
  const table = TIMESCALE_TABLES.hypertable;
  const n = Number((await sql(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  const { chunks, compressed } = await chunkCounts(sql, table);
  const section = `Shards: native hypertable (${n.toLocaleString('en')} rows, ${chunks} chunks, ${compressed} compressed) read by 1, 2 and 4 processes at once`;
  const contenders: Contender[] = [];
  for (const count of SHARD_COUNTS) contenders.push(await shardsContender(target, table, count));
  log(`section: ${section}`);
  const rows = await alternate(section, contenders, rounds, log);
  // vs limit: rows/s over one shard's (the speed-up)
  relate(rows, section, shardsName(1), '');
  return rows;
}
