import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { barChartSvg, wrap } from '../../bench/chart-svg.js';
import { chartFileName, headlineCharts, REFERENCES } from '../../bench/charts.js';
import type { BenchResults, ResultRow } from '../../bench/report.js';
import { resultsFromReport } from '../../bench/results-from-report.js';

const BENCH = resolve(__dirname, '../../bench');
const READ = 'Native PostgreSQL 15, plain table (5,000,000 rows: timestamptz, int, text, double, smallint, jsonb)';
const BATCH = 'BATCH files against RECORD lines (native PostgreSQL 15, public.wide)';

const line = (section: string, name: string, rowsPerSec: number, peakRssMb: number): ResultRow => ({
  section,
  name,
  table: 'public.wide',
  rows: 5_000_000,
  rowsPerSec,
  peakRssMb,
});

const results: BenchResults = {
  meta: {
    date: '2026-12-02T06:02:01.842Z',
    command: 'node dist/bench/bench.js --rounds 3',
    rounds: '3, alternated; the median run is reported',
  },
  results: [
    line(READ, 'psql COPY (limit)', 1_000_000, 9),
    line(READ, 'tap FULL_TABLE', 1_050_000, 116),
    line(READ, 'MeltanoLabs tap-postgres', 20_000, 86),
    { section: READ, name: 'pipelinewise-tap-postgres', table: 'public.wide', skipped: 'failed: exited with 1: CRITICAL …' },
    line(BATCH, 'tap FULL_TABLE (RECORD lines)', 1_200_000, 114),
    line(BATCH, 'tap BATCH parquet (gzip)', 300_000, 198),
    // no reference line: not a comparison, no chart
    line('max_concurrent_chunks on the native partitioned table', 'tap, max_concurrent_chunks 1', 1_300_000, 124),
  ],
  targets: [],
};

/** every `<rect class="bar" … width="W">`, and every ratio label, in document order */
const bars = (svg: string): number[] => [...svg.matchAll(/<rect class="bar" [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
const ratios = (svg: string): string[] => [...svg.matchAll(/<tspan class="ratio"[^>]*>([^<]*)<\/tspan>/g)].map((m) => m[1]!);

/**
 * Well-formedness of the XML the chart writer emits (there is no XML parser among the dependencies):
 * every `<` opens a comment or a tag with double-quoted, unique attributes, tags nest and close, text
 * holds no raw `<` and no `&` outside the five predefined entities and character references, one root.
 */
function assertWellFormedXml(xml: string): void {
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>/y;
  const comment = /<!--(?:(?!--)[\s\S])*-->/y;
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) throw new Error(`a bare & in text at ${i}: ${text.slice(0, 60)}`);
    if (stack.length === 0 && text.trim()) throw new Error(`text outside the root element at ${i}`);
    if (lt < 0) break;
    comment.lastIndex = tag.lastIndex = lt;
    if (comment.test(xml)) {
      i = comment.lastIndex;
      continue;
    }
    const m = tag.exec(xml);
    if (!m) throw new Error(`not a tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [, closing, name, attrs, selfClosing] = m;
    const names = [...attrs!.matchAll(/([\w.:-]+)="/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) throw new Error(`a repeated attribute in <${name}>`);
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(attrs!)) throw new Error(`a bare & in <${name}>'s attributes`);
    if (closing) {
      if (attrs || selfClosing) throw new Error(`</${name}> with attributes`);
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open at ${lt}`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name!);
    }
    i = tag.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

/** The charts `npm run bench` writes beside its report: measured numbers, drawn the same way every time. */
describe('bench charts', () => {
  it('one chart per section that has a reference line, none for a section without one', () => {
    expect(headlineCharts(results).map((c) => [c.file, c.chart.reference])).toEqual([
      ['native-postgresql-15-plain-table.svg', 'psql COPY (limit)'],
      ['batch-files-against-record-lines.svg', 'tap FULL_TABLE (RECORD lines)'],
    ]);
  });

  it('one bar per contender that ran, labelled with its ratio to the reference; a failed one says so instead', () => {
    const [read, batch] = headlineCharts(results).map((c) => barChartSvg(c.chart));
    expect(bars(read!)).toHaveLength(3);
    expect(ratios(read!)).toEqual(['1.00×', '1.05×', '0.020×']);
    expect(read).toContain('failed (the report says why)');
    expect(ratios(batch!)).toEqual(['1.00×', '0.25×']);
    expect(read).toMatch(/<title id="title">Native PostgreSQL 15, plain table .*: throughput relative to psql COPY \(limit\)<\/title>/);
    // the figures a screen reader gets, peak RSS included
    expect(read).toContain('tap FULL_TABLE: 1,050,000 rows/s, 1.05× psql COPY (limit), peak RSS 116 MB.');
    expect(read).toContain('>116 MB</text>');
  });

  it('bars are to scale: their widths are in the ratio of the rows/s', () => {
    const widths = bars(barChartSvg(headlineCharts(results)[0]!.chart));
    expect(widths[1]! / widths[0]!).toBeCloseTo(1.05, 2);
    expect(widths[2]! / widths[1]!).toBeCloseTo(20_000 / 1_050_000, 2);
    expect(Math.max(...widths)).toBe(widths[1]); // the fastest gets the longest bar
  });

  it('is well-formed XML, also with <, & and quotes in names, and the same bytes every time', () => {
    const hostile: BenchResults = {
      ...results,
      results: [...results.results, line(READ, `tap "a" & <b> 'c'`, 500_000, 100)],
    };
    const svg = barChartSvg(headlineCharts(hostile)[0]!.chart);
    assertWellFormedXml(svg);
    expect(svg).toContain('tap &quot;a&quot; &amp; &lt;b&gt; &apos;c&apos;');
    expect(barChartSvg(headlineCharts(hostile)[0]!.chart)).toBe(svg);
    expect(() => assertWellFormedXml('<svg><g></svg></g>')).toThrow(/closes nothing/);
    expect(() => assertWellFormedXml('<svg>a & b</svg>')).toThrow(/bare &/);
  });

  it('file names stay the same when --rows changes the sizes in a title', () => {
    expect(chartFileName('Native TimescaleDB, the same 5,000,000 rows in a plain table without a key')).toBe(
      chartFileName('Native TimescaleDB, the same 200,000 rows in a plain table without a key'),
    );
    expect(
      chartFileName('LOG_BASED on a native hypertable (1,000,000 rows, 10 chunks, PRIMARY KEY (device_id, ts)): every row updated'),
    ).toBe('log-based-on-a-native-hypertable-every-row-updated.svg');
  });

  it('wraps long titles and names at word boundaries', () => {
    expect(wrap('node consumer alone (the tap’s output, from a file)', 20)).toEqual([
      'node consumer alone',
      '(the tap’s output,',
      'from a file)',
    ]);
  });

  it('the reference names are the ones the bench gives its lines', () => {
    const sources = readdirSync(BENCH)
      .filter((f) => f.endsWith('.ts') && f !== 'charts.ts')
      .map((f) => readFileSync(resolve(BENCH, f), 'utf8'))
      .join('\n');
    for (const name of [
      'psql COPY (limit)',
      'psql COPY > /dev/null (limit)',
      'tap FULL_TABLE (RECORD lines)',
      'tap FULL_TABLE (same table)',
    ]) {
      expect(sources).toContain(`'${name}'`);
      expect(REFERENCES.some((re) => re.test(name))).toBe(true);
    }
  });
});

/** bench/charts/ holds the charts bench/README.md shows: drawn by charts.ts from bench/charts/results.json, never by hand. */
describe('bench/charts/', () => {
  const committed = JSON.parse(readFileSync(resolve(BENCH, 'charts/results.json'), 'utf8')) as BenchResults;

  it('every SVG there is what charts.ts draws from results.json there, and each is well-formed', () => {
    const drawn = new Map(headlineCharts(committed).map((c) => [c.file, barChartSvg(c.chart)]));
    const files = readdirSync(resolve(BENCH, 'charts')).filter((f) => f.endsWith('.svg'));
    expect(files.sort()).toEqual([...drawn.keys()].sort());
    for (const f of files) {
      const svg = readFileSync(resolve(BENCH, 'charts', f), 'utf8');
      expect(svg, `${f}: regenerate with node dist/bench/charts.js bench/charts/results.json bench/charts`).toBe(drawn.get(f));
      assertWellFormedXml(svg);
    }
  });

  it('each folder under it with a results.json (the runs of one issue) holds only the SVGs charts.ts draws from that file', () => {
    const dirs = readdirSync(resolve(BENCH, 'charts'), { withFileTypes: true }).filter((d) => d.isDirectory());
    for (const d of dirs) {
      const dir = resolve(BENCH, 'charts', d.name);
      const results = JSON.parse(readFileSync(resolve(dir, 'results.json'), 'utf8')) as BenchResults;
      const drawn = new Map(headlineCharts(results).map((c) => [c.file, barChartSvg(c.chart)]));
      const files = readdirSync(dir).filter((f) => f.endsWith('.svg'));
      expect(files.sort(), d.name).toEqual([...drawn.keys()].sort());
      for (const f of files) {
        const svg = readFileSync(resolve(dir, f), 'utf8');
        expect(
          svg,
          `${d.name}/${f}: regenerate with node dist/bench/charts.js bench/charts/${d.name}/results.json bench/charts/${d.name}`,
        ).toBe(drawn.get(f));
        assertWellFormedXml(svg);
      }
    }
  });

  it('a results.json read back from a report holds only what bench/README.md prints', () => {
    if (typeof committed.meta.reconstructed !== 'string') return; // a run's own JSON: nothing to compare
    const readme = readFileSync(resolve(BENCH, 'README.md'), 'utf8');
    expect(committed).toEqual(resultsFromReport(readme, 'bench/README.md'));
  });
});
