import { writeFileSync } from 'node:fs';
import type { RunResult } from './measure.js';
import { median } from './measure.js';

/** One line of the report: a contender's median run, or why it did not run. */
export interface ResultRow {
  readonly section: string;
  readonly name: string;
  readonly table: string;
  readonly rows?: number;
  readonly rowsPerSec?: number;
  readonly mbPerSec?: number;
  readonly seconds?: number;
  readonly peakRssMb?: number;
  readonly cpuSeconds?: number;
  /** CPU seconds of the whole machine during the run: the contender, its consumer, the database server */
  readonly machineCpuSeconds?: number;
  /** rows/s over the psql COPY limit of the same section */
  vsLimit?: number;
  /** this tap's rows/s over the contender's (how many times faster the tap is) */
  tapTimes?: number;
  readonly note?: string;
  /** what did not run, and why */
  readonly skipped?: string;
  /** every run: seconds, rows, bytes, and per stage cpu/rss */
  readonly runs?: readonly { seconds: number; rows: number; bytes: number; usage: RunResult['usage'] }[];
  readonly extra?: Record<string, number | string>;
}

/** The median run (by wall time) of several, as a report row; rows must agree across runs. */
export function summarize(
  section: string,
  name: string,
  table: string,
  runs: readonly RunResult[],
  note?: string,
  extra?: Record<string, number | string>,
): ResultRow {
  const secs = median(runs.map((r) => r.seconds));
  const mid = [...runs].sort((a, b) => Math.abs(a.seconds - secs) - Math.abs(b.seconds - secs))[0]!;
  const rows = mid.rows;
  const differing = runs.filter((r) => r.rows !== rows);
  const warn = differing.length > 0 ? ` (row counts differ between runs: ${runs.map((r) => r.rows).join(', ')})` : '';
  return {
    section,
    name,
    table,
    rows,
    seconds: secs,
    rowsPerSec: rows / secs,
    // no bytes: the output went to /dev/null, uncounted
    mbPerSec: runs.every((r) => r.bytes === 0) ? undefined : median(runs.map((r) => r.bytes / r.seconds)) / 1e6,
    peakRssMb: Math.max(...runs.map((r) => r.usage[0]!.peakRssMb)),
    cpuSeconds: median(runs.map((r) => r.usage[0]!.cpuSeconds)),
    machineCpuSeconds: runs.every((r) => r.machineCpuSeconds !== undefined) ? median(runs.map((r) => r.machineCpuSeconds!)) : undefined,
    note: (note ?? '') + warn || undefined,
    extra,
    runs: runs.map((r) => ({ seconds: r.seconds, rows: r.rows, bytes: r.bytes, usage: r.usage })),
  };
}

/** Fills `vsLimit` and `tapTimes` within each section against its limit row and the tap's row. */
export function relate(rows: ResultRow[], section: string, limitName: string, tapName: string): void {
  const inSection = rows.filter((r) => r.section === section);
  const limit = inSection.find((r) => r.name === limitName)?.rowsPerSec;
  const tap = inSection.find((r) => r.name === tapName)?.rowsPerSec;
  for (const r of inSection) {
    if (r.rowsPerSec === undefined) continue;
    if (limit) r.vsLimit = r.rowsPerSec / limit;
    if (tap) r.tapTimes = tap / r.rowsPerSec;
  }
}

/** the contender's own CPU seconds per million rows: what a busy neighbour on the machine changes least */
const perMillion = (r: ResultRow): number | undefined =>
  r.cpuSeconds === undefined || !r.rows ? undefined : (r.cpuSeconds / r.rows) * 1e6;
const cell = (text: string): string => text.replace(/\|/g, '\\|');
const num = (n: number | undefined, digits = 0): string =>
  n === undefined ? '' : n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (n: number | undefined): string => (n === undefined ? '' : `${(n * 100).toFixed(0)}%`);
const times = (n: number | undefined): string => (n === undefined ? '' : `${n.toFixed(n < 10 ? 2 : 0)}x`);

/** The report as Markdown: one table per section, then the targets. */
export function markdown(meta: Record<string, unknown>, rows: readonly ResultRow[], targets: readonly string[]): string {
  const out: string[] = [];
  out.push(`## tap-timescaledb benchmark`, '');
  out.push(
    Object.entries(meta)
      .map(([k, v]) => `- ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('\n'),
    '',
  );
  for (const section of [...new Set(rows.map((r) => r.section))]) {
    out.push(`### ${section}`, '');
    out.push(
      '| contender | table | rows | rows/s | MB/s | peak RSS MB | CPU s | CPU s per M rows | machine CPU s | vs psql COPY | tap is x faster | notes |',
    );
    out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
    for (const row of rows.filter((x) => x.section === section)) {
      // a `|` in a name or note ("tap | node consumer") would end the Markdown cell
      const r = {
        ...row,
        name: cell(row.name),
        table: cell(row.table),
        note: row.note && cell(row.note),
        skipped: row.skipped && cell(row.skipped),
      };
      if (r.skipped) {
        out.push(`| ${r.name} | ${r.table} | | | | | | | | | | ${r.skipped} |`);
        continue;
      }
      const extra = r.extra
        ? Object.entries(r.extra)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')
        : '';
      const notes = [r.note, extra].filter(Boolean).join('; ');
      out.push(
        `| ${r.name} | ${r.table} | ${num(r.rows)} | ${num(r.rowsPerSec)} | ${num(r.mbPerSec, 1)} | ${num(r.peakRssMb)} | ${num(r.cpuSeconds, 1)} | ${num(perMillion(r), 2)} | ${num(r.machineCpuSeconds, 1)} | ${pct(r.vsLimit)} | ${times(r.tapTimes)} | ${notes} |`,
      );
    }
    out.push('');
  }
  out.push('### Targets', '', ...targets.map((t) => `- ${t}`), '');
  return out.join('\n');
}

/** The JSON the bench writes (`--out`): what bench/charts.ts draws from. */
export interface BenchResults {
  readonly meta: Record<string, unknown>;
  readonly results: readonly ResultRow[];
  readonly targets: readonly string[];
}

export function writeJson(path: string, meta: Record<string, unknown>, rows: readonly ResultRow[], targets: readonly string[]): void {
  const results: BenchResults = { meta, results: rows, targets };
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
}
