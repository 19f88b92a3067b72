import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import {
  consumerAlone,
  targetJsonlInstalled,
  PSQL,
  snapshotTap,
  psqlCopy,
  pythonTap,
  pythonTapMissing,
  tapContender,
  tapPiped,
  type Contender,
  type Target,
} from './contenders.js';
import { REPO, startEmbedded, startNative, type EmbeddedTables, type NativeServer } from './data.js';
import { buildCounter } from './line-counter.js';
import { usageTool, useCounter } from './measure.js';
import { markdown, relate, writeJson, type ResultRow } from './report.js';
import { chartsDirFor, writeCharts } from './charts.js';
import { alternate, concurrencyScenario, hypertableScenario, incrementalScenario, metricsPluginBuilt, rssScenario } from './scenarios.js';
import { checkTargets } from './targets.js';
import { parseSections, SECTIONS, type Section } from './sections.js';
import { batchScenario } from './batch-scenario.js';
import { timescaleSections } from './timescale-scenarios.js';

/** bench/record-transform-plugin.ts, built beside this file */
const RECORD_TRANSFORM_PLUGIN = fileURLToPath(new URL('./record-transform-plugin.js', import.meta.url));

/**
 * `npm run bench`: this tap against PostgreSQL's own COPY, a real consumer and two Python taps, on
 * tables it generates itself; prints a Markdown table and writes the same figures as JSON. It measures
 * and reports; it never asserts a speed (targets are listed as met or not, the exit code stays 0).
 */
interface Options {
  rows: number;
  /** rows of the native TimescaleDB hypertable and of its plain copy: N unless given */
  hypertableRows: number;
  /**
   * rows of the embedded hypertable: N up to 1M unless given. The engine serves from this process, and
   * its heap grows with what it has served: at 5M rows, one COPY per chunk included, it passed 3.8 GB
   * in the second round and node died out of memory (a single COPY of 5M rows took 6 GB on its own).
   */
  embeddedRows: number;
  /** the sections to run (--only; every one by default) */
  only: Set<Section>;
  rounds: number;
  quick: boolean;
  embedded: boolean;
  python: boolean;
  out: string;
  /** where the SVG charts go: beside the JSON unless --charts says otherwise */
  charts?: string;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    rows: Number(process.env.BENCH_ROWS ?? 5_000_000),
    hypertableRows: 0,
    embeddedRows: 0,
    only: new Set(Object.keys(SECTIONS) as Section[]),
    rounds: 2,
    quick: false,
    embedded: true,
    python: true,
    out: 'bench-results.json',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rows') o.rows = Number(value());
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--hypertable-rows') o.hypertableRows = Number(value());
    else if (a === '--embedded-rows') o.embeddedRows = Number(value());
    else if (a === '--only') o.only = parseSections(value());
    else if (a === '--out') o.out = value();
    else if (a === '--charts') o.charts = value();
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-embedded') o.embedded = false;
    else if (a === '--no-python') o.python = false;
    else
      throw new Error(
        `unknown option ${a}: use --rows N, --hypertable-rows N, --embedded-rows N, --only SECTION,…, --rounds N, --quick, --no-embedded, --no-python, --out FILE, --charts DIR`,
      );
  }
  if (!Number.isInteger(o.rows) || o.rows < 10_000)
    throw new Error(`--rows (or BENCH_ROWS) must be an integer of at least 10000, not ${o.rows}`);
  o.hypertableRows ||= o.rows;
  o.embeddedRows ||= Math.min(o.rows, 1_000_000);
  for (const [flag, n] of [
    ['--hypertable-rows', o.hypertableRows],
    ['--embedded-rows', o.embeddedRows],
  ] as const)
    if (!Number.isInteger(n) || n < 10_000) throw new Error(`${flag} must be an integer of at least 10000, not ${n}`);
  if (!o.embedded) o.only.delete('embedded');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`--rounds must be a positive integer, not ${o.rounds}`);
  return o;
}

/**
 * The bench installs the Python taps and target-jsonl itself (bench/python-taps.sh: a minute the first
 * time, a second once their venvs are stamped). A program that cannot install is reported as such.
 */
function installPythonTools(log: (m: string) => void): void {
  log('installing the Python taps and target-jsonl (bench/python-taps.sh)');
  const r = spawnSync('bash', [join(REPO, 'bench/python-taps.sh')], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  for (const line of `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')) if (line) log(`  ${line}`);
}

const log = (m: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!existsSync(PSQL)) throw new Error(`${PSQL} not found: apt-get install postgresql-15`);
  const days = 60;
  const subsetRows = Math.min(200_000, o.rows);
  const scale = o.rows / 5_000_000;
  const want = (section: Section): boolean => o.only.has(section);
  if (o.python && (want('python') || want('python-hypertable'))) installPythonTools(log);
  const build = snapshotTap();
  log(`tap build snapshot: ${build}`);
  const counter = buildCounter(build);
  useCounter(counter.binary);
  log(`rows counted by ${counter.description}`);
  const load = [loadavg()];
  const started = Date.now();
  const rows: ResultRow[] = [];
  // the figures so far, after every section: a run cut short still leaves what it measured
  const partial = (): void => writeJson(resolve(o.out), { partial: true, rows: o.rows }, rows, []);
  let native: NativeServer | undefined;
  let emb: EmbeddedTables | undefined;
  let timescaleVersion: string | undefined;
  try {
    // only the tables of the sections that run are generated
    const need = {
      wide: ['plain', 'batch'],
      narrow: ['narrow'],
      subset: ['python'],
      partitioned: ['concurrency'],
      rssSmall: ['rss'],
      rssBig: ['rss'],
    } as const;
    const { server, tables, maker } = await startNative(o.rows, subsetRows, days, !o.quick, log, (role) => need[role].some(want));
    native = server;
    const target: Target = { host: server.host, port: server.port, database: server.database, url: server.url };
    if (want('plain')) {
      await server.sql(`SELECT count(*) FROM ${tables.wide}`); // warm the page cache for whoever runs first

      const main = `Native PostgreSQL 15, plain table (${o.rows.toLocaleString('en')} rows: timestamptz, int, text, double, smallint, jsonb)`;
      const alone = await consumerAlone(target, tables.wide);
      const mainContenders: Contender[] = [
        psqlCopy(target, tables.wide),
        await tapContender('tap FULL_TABLE', target, tables.wide, {}, 'records to the bench (counted, discarded)'),
        await tapPiped(target, tables.wide, 'node'),
        alone,
        // the record API's cost per million records: this line's CPU s/M rows minus tap FULL_TABLE's
        await tapContender('tap, a record transform (emit as is)', target, tables.wide, { plugins: [{ module: RECORD_TRANSFORM_PLUGIN }] }),
      ];
      if (metricsPluginBuilt())
        mainContenders.push(await tapContender('tap, metrics plugin disabled', target, tables.wide, { disable_plugins: ['metrics'] }));
      log(`section: ${main}`);
      rows.push(...(await alternate(main, mainContenders, o.rounds, log).finally(() => alone.dispose())));
      relate(rows, main, 'psql COPY (limit)', 'tap FULL_TABLE');
      partial();
    }

    if (want('narrow')) {
      const narrow = `Native PostgreSQL 15, narrow table (${o.rows.toLocaleString('en')} rows: timestamptz, int, double)`;
      log(`section: ${narrow}`);
      rows.push(
        ...(await alternate(
          narrow,
          [psqlCopy(target, tables.narrow), await tapContender('tap FULL_TABLE', target, tables.narrow)],
          o.rounds,
          log,
        )),
      );
      relate(rows, narrow, 'psql COPY (limit)', 'tap FULL_TABLE');
      partial();
    }

    if (want('python')) {
      const subset = `Python taps: subset table (${subsetRows.toLocaleString('en')} rows, same shape)`;
      log(`section: ${subset}`);
      const subsetContenders: Contender[] = [psqlCopy(target, tables.subset), await tapContender('tap FULL_TABLE', target, tables.subset)];
      const missing: ResultRow[] = [];
      if (targetJsonlInstalled()) subsetContenders.push(await tapPiped(target, tables.subset, 'target-jsonl'));
      else
        missing.push({
          section: subset,
          name: 'tap | target-jsonl',
          table: tables.subset,
          skipped: o.python ? `target-jsonl not installed: ${pythonTapMissing('target-jsonl')}` : 'skipped (--no-python)',
        });
      for (const which of ['pipelinewise', 'meltanolabs'] as const) {
        const why = o.python ? pythonTapMissing(which) : 'skipped (--no-python)';
        const name = which === 'pipelinewise' ? 'pipelinewise-tap-postgres' : 'MeltanoLabs tap-postgres';
        if (why) missing.push({ section: subset, name, table: tables.subset, skipped: why });
        else {
          try {
            subsetContenders.push(await pythonTap(which, target, tables.subset));
          } catch (err) {
            missing.push({
              section: subset,
              name,
              table: tables.subset,
              skipped: `discovery failed: ${(err as Error).message.slice(0, 200)}`,
            });
          }
        }
      }
      rows.push(...(await alternate(subset, subsetContenders, o.rounds, log)), ...missing);
      relate(rows, subset, 'psql COPY (limit)', 'tap FULL_TABLE');
      partial();
    }

    if (want('batch')) {
      log('section: BATCH files');
      rows.push(...(await batchScenario(target, tables.wide, o.rounds, log)));
      partial();
    }

    if (want('concurrency')) {
      log('section: max_concurrent_chunks');
      rows.push(...(await concurrencyScenario(target, tables.partitioned, o.rounds, log)));
      partial();
    }

    if (want('rss')) {
      log('section: peak RSS against table size');
      const rssTables = [
        { table: tables.rssSmall, rows: Math.round(o.rows / 5) },
        ...(tables.rssBig ? [{ table: tables.rssBig, rows: o.rows * 4 }] : []),
      ];
      rows.push(...(await rssScenario(target, rssTables, log)));
      partial();
    }
    const tsOptions = {
      ...o,
      want,
      keyedRows: Math.round(o.rows * 0.4),
      subsetRows: Math.min(200_000, o.hypertableRows),
      changeRows: Math.round(o.rows / 5),
      decodeRows: Math.min(1_000_000, o.rows),
    };
    const done = (measured: ResultRow[]): void => {
      rows.push(...measured);
      partial();
    };
    timescaleVersion = (await timescaleSections(target, maker, tsOptions, log, done)).version;
    load.push(loadavg());
    await server.stop();
    native = undefined;

    if (want('embedded')) {
      emb = await startEmbedded(o.embeddedRows, Math.max(20_000, Math.min(200_000, Math.round(o.rows / 25))), days, log);
      log('section: hypertable');
      rows.push(...(await hypertableScenario(emb, o.rounds, log)));
      const ht = rows.at(-1)!.section;
      relate(rows, ht, 'psql COPY (limit)', 'tap FULL_TABLE');
      partial();
      log('section: incremental');
      try {
        rows.push(...(await incrementalScenario(emb, 1000, log)));
      } catch (err) {
        rows.push({
          section: 'Incremental on a 200-chunk hypertable',
          name: 'tap INCREMENTAL',
          table: emb.incremental,
          skipped: `failed: ${(err as Error).message.slice(0, 300)}`,
        });
      }
    }
  } finally {
    await emb?.engine.stop().catch(() => undefined);
    await native?.stop().catch(() => undefined);
    rmSync(build, { recursive: true, force: true });
  }
  load.push(loadavg());
  const meta = {
    date: new Date().toISOString(),
    command: `node dist/bench/bench.js ${process.argv.slice(2).join(' ')}`.trim(),
    rows: o.rows,
    sections: [...o.only].join(', '),
    'native TimescaleDB': timescaleVersion ?? 'not used',
    'hypertable rows': `${o.hypertableRows} (native TimescaleDB); keyed table ${Math.round(o.rows * 0.4)}; LOG_BASED table ${Math.round(o.rows / 5)}; embedded ${o.embeddedRows}`,
    scale: `x${scale} of the default 5M (RSS tables: ${Math.round(o.rows / 5)} and ${o.quick ? 'skipped (--quick)' : o.rows * 4} rows)`,
    rounds: `${o.rounds}, alternated; the median run is reported`,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
    'load average (1/5/15 min) start, mid, end': load.map((l) => l.map((x) => x.toFixed(2)).join('/')).join(' ; '),
    'RSS/CPU from': usageTool,
    'rows counted by': counter.description,
    consumers: `bench/line-consumer.ts (JSON.parse per line) on the full table; target-jsonl ${targetJsonlInstalled() ? 'on the subset' : 'not installed'}`,
    'metrics plugin': metricsPluginBuilt() ? 'built: measured with and without' : 'not in this build: not measured',
    'total minutes': ((Date.now() - started) / 60_000).toFixed(1),
  };
  const targets = checkTargets(rows);
  if (o.rows < 5_000_000) {
    targets.unshift(
      `the targets are for the default 5,000,000 rows: at ${o.rows.toLocaleString('en')} the tap's start-up (~0.2 s: node, its modules, the config schema) weighs ${(5_000_000 / o.rows).toFixed(0)}x more in every ratio`,
    );
  }
  // the charts first, so that the report can say where they are; drawn from the same rows as the JSON
  const chartsDir = o.charts ?? chartsDirFor(o.out);
  let charts: string;
  try {
    charts = `${writeCharts({ meta, results: rows, targets }, resolve(chartsDir)).length} SVG in ${chartsDir}`;
  } catch (err) {
    charts = `not written: ${(err as Error).message}`; // the report and the JSON still are
  }
  const report = { ...meta, charts };
  process.stdout.write(markdown(report, rows, targets));
  writeJson(resolve(o.out), report, rows, targets);
  log(`wrote ${o.out}; charts: ${charts}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
