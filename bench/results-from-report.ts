import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResults, ResultRow } from './report.js';

/**
 * A results file read back from a Markdown report as the bench printed it (bench/README.md keeps the
 * reports; the JSON of a run is git-ignored and usually gone). Only what the report prints is there:
 * its figures are rounded as printed (rows/s to the row, MB/s and CPU s to a tenth), and a line has no
 * `runs`. `meta.reconstructed` says so, and the charts drawn from it print that sentence.
 */

/** the columns of the bench's report, by header, to the ResultRow field each one fills */
const COLUMNS: Readonly<Record<string, keyof ResultRow>> = {
  rows: 'rows',
  'rows/s': 'rowsPerSec',
  'MB/s': 'mbPerSec',
  'peak RSS MB': 'peakRssMb',
  'CPU s': 'cpuSeconds',
  'machine CPU s': 'machineCpuSeconds',
  'vs psql COPY': 'vsLimit',
  'tap is x faster': 'tapTimes',
};

/** A table row's cells; `\|` inside a cell is a pipe of the text, not a border. */
const cells = (line: string): string[] =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));

/** "1,025,464" → 1025464, "105%" → 1.05, "21x" → 21; empty → undefined */
function figure(cell: string): number | undefined {
  if (cell === '') return undefined;
  const n = Number(cell.replace(/,/g, '').replace(/[%x]$/, ''));
  if (!Number.isFinite(n)) throw new Error(`not a figure: "${cell}"`);
  return cell.endsWith('%') ? n / 100 : n;
}

/**
 * The first report in `markdown`: from its `tap-timescaledb benchmark` heading (any level) to its
 * Targets list. Section headings may be demoted, as bench/README.md does (`####` for `###`).
 */
export function resultsFromReport(markdown: string, source: string): BenchResults {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{2,6} tap-timescaledb benchmark\s*$/.test(l));
  if (start < 0) throw new Error(`${source}: no "tap-timescaledb benchmark" heading: is it a report the bench printed?`);
  const meta: Record<string, unknown> = {};
  const results: ResultRow[] = [];
  const targets: string[] = [];
  let section: string | undefined;
  let header: string[] | undefined;
  let inTargets = false;
  for (const line of lines.slice(start + 1)) {
    const heading = /^#{2,6} (.+)$/.exec(line);
    if (heading) {
      if (inTargets) break; // the next heading after the Targets list ends the report
      section = heading[1]!.trim();
      inTargets = section === 'Targets';
      header = undefined;
      continue;
    }
    const item = /^- (.*)$/.exec(line);
    if (item && inTargets) targets.push(item[1]!);
    else if (item && section === undefined) {
      const [key, ...value] = item[1]!.split(': ');
      meta[key!] = value.join(': ');
    } else if (line.startsWith('|') && section && !inTargets) {
      const row = cells(line);
      if (!header) header = row;
      else if (!row.every((c) => /^:?-+:?$/.test(c))) results.push(resultRow(section, header, row)); // not the |---| line
    }
  }
  if (results.length === 0) throw new Error(`${source}: the report has no result tables`);
  meta.reconstructed =
    `Figures read back from the report printed in ${source} (the run's JSON was not kept): ` +
    'rows/s and peak RSS as printed there, rounded as printed.';
  return { meta, results, targets };
}

function resultRow(section: string, header: readonly string[], row: readonly string[]): ResultRow {
  const at = (name: string): string => row[header.indexOf(name)] ?? '';
  const figures: Record<string, number> = {};
  for (const [column, field] of Object.entries(COLUMNS)) {
    const n = header.includes(column) ? figure(at(column)) : undefined;
    if (n !== undefined) figures[field] = n;
  }
  const notes = at('notes');
  const base = { section, name: at('contender'), table: at('table') };
  // a line without figures is a contender that did not run: its notes are the reason
  if (figures.rowsPerSec === undefined) return { ...base, skipped: notes || 'no figures in the report' };
  return { ...base, ...figures, ...(notes ? { note: notes } : {}) };
}

/** `node dist/bench/results-from-report.js REPORT.md OUT.json` */
function main(argv: readonly string[]): void {
  const [input, out] = argv;
  if (!input || !out) throw new Error('usage: node dist/bench/results-from-report.js REPORT.md OUT.json (e.g. bench/README.md)');
  const results = resultsFromReport(readFileSync(input, 'utf8'), input);
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  process.stderr.write(`wrote ${out}: ${results.results.length} lines from ${input}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`results-from-report: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
