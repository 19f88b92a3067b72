import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { barChartSvg, type Bar, type BarChart } from './chart-svg.js';
import type { BenchResults, ResultRow } from './report.js';

/**
 * The bench's headline comparisons as SVG charts, one per section that has a reference line: each
 * contender's throughput as a bar, labelled with its ratio to the reference measured in the same run,
 * and its peak RSS. They are drawn from the results JSON only, so a chart always shows measured numbers:
 * `npm run bench` writes them beside its JSON, and `node dist/bench/charts.js RESULTS.json DIR` draws
 * them again from a saved one.
 */

/**
 * The line a section's ratios are taken against, first match wins: pg_recvlogical where a LOG_BASED
 * section has it, psql's COPY for the read paths, the RECORD path for BATCH. LOG_BASED without
 * pg_recvlogical falls back to FULL_TABLE of the same table, as its report line does
 * ("changes/s over FULL_TABLE rows/s"). A section with none of these (max_concurrent_chunks, RSS
 * against size, incremental) is not a comparison and gets no chart.
 */
export const REFERENCES: readonly RegExp[] = [
  /^pg_recvlogical\b/,
  /^psql COPY > \/dev\/null \(limit\)$/,
  /^psql COPY \(limit\)$/,
  /^tap FULL_TABLE \(RECORD lines\)$/,
  /^tap FULL_TABLE \(same table\)$/,
];

/** A chart and the file name it goes to. */
export interface HeadlineChart {
  readonly file: string;
  readonly section: string;
  readonly chart: BarChart;
}

/**
 * A file name that stays the same from run to run: the section's title without its parenthesised sizes
 * and without row counts ("Native TimescaleDB, the same 5,000,000 rows in …"), which --rows changes.
 */
export function chartFileName(section: string): string {
  let s = section;
  // innermost parentheses first: "(1,000,000 rows, PRIMARY KEY (device_id, ts))" nests
  while (/\([^()]*\)/.test(s)) s = s.replace(/\([^()]*\)/g, '');
  const slug = s
    .replace(/\d{1,3}(,\d{3})+/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return `${slug || 'section'}.svg`;
}

const kindOf = (row: ResultRow, reference: ResultRow): Bar['kind'] =>
  row === reference ? 'reference' : /^tap\b/.test(row.name) ? 'tap' : 'other';

/** the LOG_BASED next run's rows are changes decoded from the WAL, and its report note says so */
const unitOf = (row: ResultRow): string => (/\brows = changes\b/.test(row.note ?? '') ? 'changes/s' : 'rows/s');

/** What a contender that did not run shows instead of a bar: the first words of its reason. */
const missingText = (row: ResultRow): string => {
  const why = row.skipped ?? '';
  const head = why.split(':')[0]!.trim();
  return head ? `${head} (the report says why)` : 'did not run';
};

function footer(meta: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const measured = [meta.command, typeof meta.date === 'string' ? meta.date.slice(0, 10) : undefined].filter(Boolean).join(', ');
  const rounds = typeof meta.rounds === 'string' ? meta.rounds.split(',')[0] : undefined;
  lines.push(
    `${measured ? `${measured}: ` : ''}${rounds ? `median of ${rounds} alternated round${rounds === '1' ? '' : 's'}; ` : ''}` +
      `machine ${String(meta.machine ?? 'not recorded')}. Bars are to scale; each ratio is a contender's throughput over the reference's.`,
  );
  if (typeof meta.reconstructed === 'string') lines.push(meta.reconstructed);
  return lines;
}

/** The headline charts of a results file, in the report's section order. */
export function headlineCharts(results: BenchResults): HeadlineChart[] {
  const charts: HeadlineChart[] = [];
  const used = new Set<string>();
  for (const section of [...new Set(results.results.map((r) => r.section))]) {
    const rows = results.results.filter((r) => r.section === section);
    const reference = REFERENCES.map((re) => rows.find((r) => re.test(r.name) && r.rowsPerSec)).find(Boolean);
    if (!reference) continue;
    const bars: Bar[] = rows.map((r) => ({
      label: r.name,
      kind: kindOf(r, reference),
      unit: unitOf(r),
      ...(r.rowsPerSec === undefined
        ? { missing: missingText(r) }
        : { value: r.rowsPerSec, ratio: r.rowsPerSec / reference.rowsPerSec!, peakRssMb: r.peakRssMb }),
    }));
    let file = chartFileName(section);
    for (let n = 2; used.has(file); n++) file = chartFileName(section).replace(/\.svg$/, `-${n}.svg`);
    used.add(file);
    charts.push({ file, section, chart: { title: section, reference: reference.name, bars, footer: footer(results.meta) } });
  }
  return charts;
}

/** The bench's default charts directory: beside its JSON, named after it (bench-results.json → bench-results-charts). */
export const chartsDirFor = (jsonPath: string): string => jsonPath.replace(/\.json$/, '') + '-charts';

/** Writes every headline chart of `results` into `dir` (made if missing); returns the paths written. */
export function writeCharts(results: BenchResults, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return headlineCharts(results).map(({ file, chart }) => {
    const path = join(dir, file);
    writeFileSync(path, barChartSvg(chart));
    return path;
  });
}

/** `node dist/bench/charts.js RESULTS.json DIR`: the charts of a saved results file, without a bench run. */
function main(argv: readonly string[]): void {
  const [input, dir] = argv;
  if (!input || !dir) throw new Error('usage: node dist/bench/charts.js RESULTS.json DIR (e.g. bench-results.json bench/charts)');
  let results: BenchResults;
  try {
    results = JSON.parse(readFileSync(input, 'utf8')) as BenchResults;
  } catch (err) {
    throw new Error(
      `${input}: ${(err as Error).message}; for a report kept as Markdown, read it back first with node dist/bench/results-from-report.js REPORT.md OUT.json`,
    );
  }
  if (!Array.isArray(results.results)) throw new Error(`${input} has no "results" list: is it the bench's --out JSON?`);
  for (const path of writeCharts(results, dir)) process.stderr.write(`wrote ${path}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`charts: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
