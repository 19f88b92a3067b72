import { cpus } from 'node:os';
import type { ResultRow } from './report.js';

/**
 * The issue's targets, each stated as met or not with the figures behind it. The bench reports
 * them; it never fails on them (speed targets live in benchmarks, never in timed tests).
 */
export function checkTargets(rows: readonly ResultRow[]): string[] {
  const mainSection = rows.find((r) => r.section.startsWith('Native PostgreSQL 15, plain'))?.section;
  const inMain = rows.filter((r) => r.section === mainSection);
  const tap = inMain.find((r) => r.name === 'tap FULL_TABLE');
  const piped = inMain.find((r) => r.name.startsWith('tap | '));
  const jsonl = rows.find((r) => r.section.startsWith('Python taps') && r.name === 'tap | target-jsonl');
  const out: string[] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met');
  out.push(
    `tap >= 90% of the psql COPY limit: ${pct(tap?.vsLimit)} (${verdict(tap?.vsLimit === undefined ? undefined : tap.vsLimit >= 0.9)})`,
  );
  const narrow = rows.find((r) => r.section.startsWith('Native PostgreSQL 15, narrow') && r.name === 'tap FULL_TABLE');
  out.push(
    `on the narrow 3-column table too: ${pct(narrow?.vsLimit)} (${verdict(narrow?.vsLimit === undefined ? undefined : narrow.vsLimit >= 0.9)})`,
  );
  out.push(
    `tap piped into a consumer that parses every line >= 80% of the limit: ${pct(piped?.vsLimit)} (${verdict(piped?.vsLimit === undefined ? undefined : piped.vsLimit >= 0.8)})` +
      consumerBound(
        piped,
        inMain.find((r) => r.name.startsWith('node consumer alone')),
        inMain.find((r) => r.name.startsWith('psql')),
      ) +
      (jsonl?.vsLimit !== undefined ? `; into target-jsonl (Python, subset): ${pct(jsonl.vsLimit)}, bounded by the target` : ''),
  );
  // issue #18: native TimescaleDB, the limit is psql's COPY into /dev/null
  const native = (start: string): ResultRow | undefined => rows.find((r) => r.section.startsWith(start) && r.name === 'tap FULL_TABLE');
  for (const [what, row] of [
    ['hypertable (native TimescaleDB) >= 90% of psql COPY into /dev/null', native('Native TimescaleDB, hypertable')],
    [
      'plain table with a key >= 90% of psql unordered COPY into /dev/null, by default',
      native('Native TimescaleDB, plain table with PRIMARY KEY'),
    ],
    // issue #35: the read order from a sample of the table
    [
      'the same keyed table without statistics >= 90% of psql unordered COPY into /dev/null, by default',
      rows.find((r) => r.section.startsWith('Native TimescaleDB') && r.section.includes('no statistics') && r.name === 'tap FULL_TABLE'),
    ],
  ] as const) {
    out.push(`${what}: ${row?.skipped ?? pct(row?.vsLimit)} (${verdict(row?.vsLimit === undefined ? undefined : row.vsLimit >= 0.9)})`);
  }
  const python = rows.filter((r) => r.section.startsWith('Python taps'));
  for (const p of python.filter((r) => !r.name.startsWith('tap') && !r.name.startsWith('psql'))) {
    if (p.skipped || !p.rowsPerSec) {
      out.push(`>= 10x ${p.name}${p.section.includes('hypertable') ? ' (hypertable subset)' : ''}: ${p.skipped ?? 'no figure'}`);
      continue;
    }
    const onSubset = p.tapTimes;
    // the hypertable subset's counterpart is the tap on the full native hypertable
    const full = p.section.includes('hypertable') ? native('Native TimescaleDB, hypertable') : tap;
    const onWide = full?.rowsPerSec ? full.rowsPerSec / p.rowsPerSec : undefined;
    const ok = onSubset === undefined ? undefined : onSubset >= 10;
    out.push(
      `>= 10x ${p.name}${p.section.includes('hypertable') ? ' (hypertable subset)' : ''}: ${x(onSubset)} on the same subset, ${x(onWide)} against the tap's rate on the full table (${verdict(ok)})`,
    );
  }
  const taps = rows.filter((r) => r.name.startsWith('tap') && r.peakRssMb !== undefined);
  const worst = taps.reduce<ResultRow | undefined>((w, r) => (w && w.peakRssMb! >= r.peakRssMb! ? w : r), undefined);
  out.push(
    `peak RSS < 150 MB: highest ${worst ? `${worst.peakRssMb!.toFixed(0)} MB (${worst.name}, ${worst.table}, ${worst.section})` : 'not measured'} (${verdict(worst ? worst.peakRssMb! < 150 : undefined)})`,
  );
  return out;
}

/**
 * What bounds `tap | consumer` on this machine: the consumer's own speed (reading the tap's output from
 * a file, nothing else running), and the CPU the piped run needs (tap, consumer and server together)
 * spread over every core, which no scheduling can beat.
 */
function consumerBound(piped: ResultRow | undefined, alone: ResultRow | undefined, limit: ResultRow | undefined): string {
  if (!piped?.rowsPerSec || !alone?.rowsPerSec || !limit?.rowsPerSec) return '';
  const cores = cpus().length;
  const floor = piped.machineCpuSeconds === undefined ? undefined : piped.machineCpuSeconds / cores;
  return (
    `: the consumer alone, reading the tap's output from a file, runs at ${pct(alone.rowsPerSec / limit.rowsPerSec)} of the limit` +
    (floor === undefined
      ? ''
      : `, and the piped run used ${piped.machineCpuSeconds!.toFixed(1)} CPU-s of the machine's ${cores} cores, so it cannot finish in under ${floor.toFixed(1)} s (${pct(piped.rows! / floor / limit.rowsPerSec)} of the limit)`) +
    `; the tap keeps the consumer at ${pct(piped.rowsPerSec / alone.rowsPerSec)} of its own speed`
  );
}

const pct = (n: number | undefined): string => (n === undefined ? 'n/a' : `${(n * 100).toFixed(0)}%`);
const x = (n: number | undefined): string => (n === undefined ? 'n/a' : `${n.toFixed(1)}x`);
