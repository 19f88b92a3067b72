import { psqlCounted, psqlDevNull, pythonTap, pythonTapMissing, tapContender, type Contender, type Target } from './contenders.js';
import { batchScenario } from './batch-scenario.js';
import { logBasedSection } from './log-based-scenario.js';
import { logBasedDecodeSection } from './log-based-decode-scenario.js';
import { relate, type ResultRow } from './report.js';
import { alternate, type Log } from './scenarios.js';
import { workersSection } from './workers-scenario.js';
import { shardsSection } from './shards-scenario.js';
import {
  chunkCounts,
  ensureTimescale,
  makeChanges,
  makeHypertables,
  makeKeyed,
  makeKeyedNoStats,
  makeSubset,
  TIMESCALE_TABLES,
  type Sql,
  type TableMaker,
} from './timescale-tables.js';

/** The limit and tap lines every native TimescaleDB section relates its rows to. */
export const LIMIT = 'psql COPY > /dev/null (limit)';
export const TAP = 'tap FULL_TABLE';

const count = async (sql: Sql, table: string): Promise<number> => Number((await sql(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
const rowsText = (n: number): string => n.toLocaleString('en');

async function hypertableTitle(sql: Sql, table: string, rows: number): Promise<string> {
  const { chunks, compressed } = await chunkCounts(sql, table);
  return `${rowsText(rows)} rows, ${chunks} one-day chunks, ${compressed} compressed`;
}

/**
 * Issue #18's three relations on the native TimescaleDB: the hypertable, the same rows in a plain table
 * without a key, and a plain table with PRIMARY KEY (device_id, ts). Each section's limit is psql's COPY
 * into /dev/null; psql into the line counter stays beside it as a check on the row count.
 */
export async function nativeHypertableSections(
  target: Target,
  sql: Sql,
  sections: { hypertable: boolean; keyed: boolean },
  rounds: number,
  log: Log,
): Promise<ResultRow[]> {
  const t = TIMESCALE_TABLES;
  const out: ResultRow[] = [];
  const run = async (section: string, contenders: Contender[]): Promise<void> => {
    log(`section: ${section}`);
    const rows = await alternate(section, contenders, rounds, log);
    relate(rows, section, LIMIT, TAP);
    out.push(...rows);
  };
  if (sections.hypertable) {
    const n = await count(sql, t.hypertable);
    await run(`Native TimescaleDB, hypertable (${await hypertableTitle(sql, t.hypertable, n)})`, [
      psqlDevNull(target, t.hypertable, n),
      psqlCounted(target, t.hypertable),
      await tapContender(TAP, target, t.hypertable, {}, 'default config'),
      await tapContender('tap, max_concurrent_chunks 2', target, t.hypertable, { max_concurrent_chunks: 2 }),
    ]);
    await run(`Native TimescaleDB, the same ${rowsText(n)} rows in a plain table without a key`, [
      psqlDevNull(target, t.plain, n),
      psqlCounted(target, t.plain),
      await tapContender(TAP, target, t.plain, {}, 'default config'),
    ]);
  }
  if (sections.keyed) {
    const n = await count(sql, t.keyed);
    await run(`Native TimescaleDB, plain table with PRIMARY KEY (device_id, ts) (${rowsText(n)} rows)`, [
      psqlDevNull(target, t.keyed, n),
      psqlCounted(target, t.keyed),
      await tapContender(TAP, target, t.keyed, {}, 'default config'),
      await tapContender('tap, full_table_order_by_key false', target, t.keyed, { full_table_order_by_key: false }),
      // the page ranges one after another on one connection, as before the read ahead
      await tapContender('tap, chunk_prefetch false', target, t.keyed, { chunk_prefetch: false }),
    ]);
    // the same rows never analyzed: the tap samples the key against the pages (its DEBUG log says what it chose)
    const fresh = await count(sql, t.keyedNoStats);
    await run(`Native TimescaleDB, the same ${rowsText(fresh)} rows and key, no statistics (never analyzed)`, [
      psqlDevNull(target, t.keyedNoStats, fresh),
      await tapContender(TAP, target, t.keyedNoStats, {}, 'default config: the read order from a sample of the table'),
      // the analyzed table in the same rounds, so that the two reads are compared at one load (issue #35: the
      // sections a minute apart differed by more than the reads did); its stream name is 8 characters shorter
      await tapContender(
        'tap, the analyzed table beside it',
        target,
        t.keyed,
        {},
        `${t.keyed}, same rows and key, alternated in these rounds; its RECORDs are 8 bytes shorter (stream name)`,
      ),
    ]);
  }
  return out;
}

/**
 * The two Python taps on a hypertable subset of the same shape (their ~30k rows/s would take minutes per
 * run on the full hypertable): each discovers the schema itself, which holds the hypertable and its chunk
 * tables (associated_schema_name), and the report says how many streams that discovery lists; then it
 * reads the hypertable's stream FULL_TABLE. A tap that fails is reported with its error.
 */
export async function pythonHypertableSection(target: Target, sql: Sql, python: boolean, rounds: number, log: Log): Promise<ResultRow[]> {
  const table = TIMESCALE_TABLES.subset;
  const n = await count(sql, table);
  const section = `Python taps on a hypertable subset (${await hypertableTitle(sql, table, n)}, same shape)`;
  log(`section: ${section}`);
  const contenders: Contender[] = [psqlDevNull(target, table, n), await tapContender(TAP, target, table)];
  const missing: ResultRow[] = [];
  for (const which of ['pipelinewise', 'meltanolabs'] as const) {
    const name = which === 'pipelinewise' ? 'pipelinewise-tap-postgres' : 'MeltanoLabs tap-postgres';
    const why = python ? pythonTapMissing(which) : 'skipped (--no-python)';
    if (why) {
      missing.push({ section, name, table, skipped: why });
      continue;
    }
    try {
      const c = await pythonTap(which, target, table, '');
      const chunks = c.streams.filter((id) => /_hyper_\d+_\d+_chunk/.test(id)).length;
      const note = `its discovery lists ${c.streams.length} streams in ${table.split('.')[0]}: ${chunks} of them chunk tables (${c.streams.slice(0, 3).join(', ')}, …); FULL_TABLE on the hypertable's stream`;
      log(`  ${name}: ${note}`);
      contenders.push({ ...c, note });
    } catch (err) {
      missing.push({ section, name, table, skipped: `discovery failed: ${(err as Error).message.slice(0, 300)}` });
    }
  }
  // a tap that failed keeps its discovery's stream count beside its error
  const notes = new Map(contenders.map((c) => [c.name, c.note]));
  const measured = (await alternate(section, contenders, rounds, log)).map((r) =>
    r.skipped && notes.get(r.name) ? { ...r, skipped: `${r.skipped}; ${notes.get(r.name)}` } : r,
  );
  const rows = [...measured, ...missing];
  relate(rows, section, LIMIT, TAP);
  return rows;
}

/** What the TimescaleDB sections need to know of the run's options. */
export interface TimescaleOptions {
  readonly want: (
    section: 'hypertable' | 'keyed' | 'python-hypertable' | 'log-based' | 'log-based-decode' | 'workers' | 'shards' | 'batch',
  ) => boolean;
  /** changes per backlog of the decode section */
  readonly decodeRows: number;
  readonly hypertableRows: number;
  readonly keyedRows: number;
  readonly subsetRows: number;
  readonly changeRows: number;
  readonly python: boolean;
  readonly rounds: number;
}

/**
 * Every native TimescaleDB section that is wanted, with its tables generated first (or reused). A section
 * that fails is one row with its error; without the extension (a bench data dir made before TimescaleDB
 * was installed) each wanted section says so.
 */
export async function timescaleSections(
  target: Target,
  maker: TableMaker,
  o: TimescaleOptions,
  log: Log,
  done: (rows: ResultRow[]) => void,
): Promise<{ version?: string }> {
  const fail = (section: string, table: string, err: unknown): ResultRow => ({
    section,
    name: 'every contender',
    table,
    skipped: `failed: ${(err as Error).message.slice(0, 300)}`,
  });
  let version: string;
  try {
    version = await ensureTimescale(maker.sql);
  } catch (err) {
    const why = `no TimescaleDB in the bench cluster (${(err as Error).message}): install it (../shared/timescaledb/install.sh) and delete the bench data dir`;
    done([{ section: 'Native TimescaleDB', name: 'every contender', table: '', skipped: why }]);
    return {};
  }
  log(`native: TimescaleDB ${version}`);
  const t = TIMESCALE_TABLES;
  const steps: [boolean, string, string, () => Promise<ResultRow[]>][] = [
    [
      o.want('hypertable') || o.want('keyed'),
      'Native TimescaleDB, hypertable and plain tables',
      t.hypertable,
      async () => {
        if (o.want('hypertable')) await makeHypertables(maker, o.hypertableRows);
        if (o.want('keyed')) await makeKeyed(maker, o.keyedRows);
        if (o.want('keyed')) await makeKeyedNoStats(maker, o.keyedRows);
        return nativeHypertableSections(target, maker.sql, { hypertable: o.want('hypertable'), keyed: o.want('keyed') }, o.rounds, log);
      },
    ],
    [
      o.want('python-hypertable'),
      'Python taps on a hypertable subset',
      t.subset,
      async () => {
        await makeSubset(maker, o.subsetRows);
        return pythonHypertableSection(target, maker.sql, o.python, o.rounds, log);
      },
    ],
    [
      o.want('batch'),
      'BATCH files on a native hypertable',
      t.hypertable,
      async () => {
        await makeHypertables(maker, o.hypertableRows);
        return batchScenario(target, t.hypertable, o.rounds, log, true);
      },
    ],
    [
      o.want('workers'),
      'transcode_workers on a native hypertable',
      t.hypertable,
      async () => {
        await makeHypertables(maker, o.hypertableRows);
        return workersSection(target, maker.sql, o.rounds, log);
      },
    ],
    [
      o.want('shards'),
      'shards on a native hypertable',
      t.hypertable,
      async () => {
        await makeHypertables(maker, o.hypertableRows);
        return shardsSection(target, maker.sql, o.rounds, log);
      },
    ],
    [
      o.want('log-based'),
      'LOG_BASED on a native hypertable',
      t.changes,
      async () => {
        await makeChanges(maker, o.changeRows);
        return logBasedSection(target, maker.sql, o.rounds, log);
      },
    ],
    [o.want('log-based-decode'), 'LOG_BASED decode', 'decode_*', () => logBasedDecodeSection(target, maker.sql, o.decodeRows, log)],
  ];
  for (const [wanted, section, table, step] of steps) {
    if (!wanted) continue;
    try {
      done(await step());
    } catch (err) {
      log(`  ${section}: failed: ${(err as Error).message}`);
      done([fail(section, table, err)]);
    }
  }
  return { version };
}
