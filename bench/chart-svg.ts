/**
 * One horizontal bar chart as SVG text: written by hand (a few rects and texts need no library and no
 * browser), with no clock, random id or locale in it, so the same figures always give the same bytes.
 * Sized for GitHub's README column (860 px wide, scaled down there); a white background keeps it
 * readable in dark mode; `<title>` and `<desc>` give screen readers the chart and every figure in it.
 */

/** What a bar stands for: the line every ratio is taken against, this tap, or another program. */
export type BarKind = 'reference' | 'tap' | 'other';

export interface Bar {
  readonly label: string;
  readonly kind: BarKind;
  /** throughput in `unit`; absent when the contender did not run */
  readonly value?: number;
  /** `rows/s` or `changes/s` */
  readonly unit: string;
  /** value over the reference's, printed beside the bar */
  readonly ratio?: number;
  readonly peakRssMb?: number;
  /** why there is no bar (a failed or skipped contender) */
  readonly missing?: string;
}

export interface BarChart {
  readonly title: string;
  /** the reference's name, as the bars' ratios are taken against it */
  readonly reference: string;
  readonly bars: readonly Bar[];
  /** where the figures come from (command, date, rounds), printed small under the bars */
  readonly footer: readonly string[];
}

const WIDTH = 860;
const PAD = 16;
const LABEL_WIDTH = 240;
const BAR_X = PAD + LABEL_WIDTH + 10;
/** the longest bar; beside it, room for its ratio and figure before the RSS column */
const BAR_MAX = 330;
const RSS_RIGHT = WIDTH - PAD;
const BAR_HEIGHT = 16;
const LINE = 15;
const FONT = `-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif`;
const COLORS: Record<BarKind, string> = { reference: '#8c959f', tap: '#0969da', other: '#d4760b' };
const LEGEND: Record<BarKind, string> = { reference: 'reference (1.00×)', tap: 'this tap', other: 'other programs' };
const TEXT = '#1f2328';
const MUTED = '#59636e';

/** `&`, `<`, `>` and quotes as entities: names and notes come from the bench, not from this file. */
export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** 1234567.8 as "1,234,568", the same on every machine (toLocaleString follows the ICU build). */
export const grouped = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A ratio as the report's readers know it from the issues: 1.05×, 0.31×, 0.020× (two significant digits below 0.1). */
export const ratioText = (r: number): string => `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;

/**
 * Words to lines of at most `chars` characters (a word longer than that gets a line of its own). The
 * width of a character is estimated, not measured: 0.6 em is DejaVu Sans's, wider than the fonts
 * GitHub's readers have, so a line that fits here fits there.
 */
export function wrap(text: string, chars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > chars) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

/** a row is as tall as its wrapped label, and never thinner than a bar and its margins */
const rowHeight = (labelLines: readonly string[]): number => Math.max(28, labelLines.length * LINE + 11);
const charsIn = (px: number, fontSize: number): number => Math.floor(px / (fontSize * 0.6));
const fmt = (n: number): string => String(Math.round(n * 10) / 10);
const text = (x: number, y: number, body: string, attrs = ''): string =>
  `<text x="${fmt(x)}" y="${fmt(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(body)}</text>`;

/** One sentence per bar, for `<desc>`: what a reader who cannot see the bars needs. */
function description(chart: BarChart): string {
  return chart.bars
    .map((b) => {
      if (b.value === undefined) return `${b.label}: ${b.missing ?? 'did not run'}.`;
      const ratio = b.kind === 'reference' ? 'the reference' : b.ratio === undefined ? '' : `${ratioText(b.ratio)} ${chart.reference}`;
      const rss = b.peakRssMb === undefined ? '' : `, peak RSS ${grouped(b.peakRssMb)} MB`;
      return `${b.label}: ${grouped(b.value)} ${b.unit}${ratio ? `, ${ratio}` : ''}${rss}.`;
    })
    .join(' ');
}

/** The chart as a complete SVG document (UTF-8, ending in a newline). */
export function barChartSvg(chart: BarChart): string {
  const out: string[] = [];
  let y = PAD;
  const titleLines = wrap(chart.title, charsIn(WIDTH - 2 * PAD, 15));
  for (const line of titleLines) {
    y += 18;
    out.push(text(PAD, y, line, 'font-size="15" font-weight="600"'));
  }
  y += 20;
  out.push(text(PAD, y, `Throughput relative to ${chart.reference} in the same run; peak RSS on the right.`, `fill="${MUTED}"`));

  // legend: only the kinds this chart has
  y += 20;
  let lx = PAD;
  for (const kind of ['reference', 'tap', 'other'] as const) {
    if (!chart.bars.some((b) => b.kind === kind)) continue;
    out.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${COLORS[kind]}"/>`);
    out.push(text(lx + 17, y, LEGEND[kind], `fill="${MUTED}"`));
    lx += 17 + LEGEND[kind].length * 7 + 18;
  }

  y += 24;
  out.push(text(PAD, y, 'contender', 'font-weight="600"'));
  const units = [...new Set(chart.bars.filter((b) => b.value !== undefined).map((b) => b.unit))];
  out.push(text(BAR_X, y, units.length === 1 ? units[0]! : units.join(' or '), 'font-weight="600"'));
  out.push(text(RSS_RIGHT, y, 'peak RSS', 'font-weight="600" text-anchor="end"'));
  y += 8;
  const top = y;

  const max = Math.max(...chart.bars.map((b) => b.value ?? 0));
  const length = (v: number): number => (max > 0 ? Math.max(1, (v / max) * BAR_MAX) : 0);
  const reference = chart.bars.find((b) => b.kind === 'reference')?.value;
  const rows = chart.bars.map((bar) => ({ bar, labelLines: wrap(bar.label, charsIn(LABEL_WIDTH, 12)) }));
  const bottom = top + rows.reduce((sum, r) => sum + rowHeight(r.labelLines), 0);
  // the reference's value as a line through every row, drawn first so that bars and figures lie over it
  if (reference !== undefined) {
    const x = fmt(BAR_X + length(reference));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${fmt(bottom)}" stroke="${TEXT}" stroke-width="1" stroke-dasharray="3 3"/>`);
  }
  for (const { bar, labelLines } of rows) {
    const height = rowHeight(labelLines);
    const mid = y + height / 2;
    labelLines.forEach((line, i) => out.push(text(PAD, mid - ((labelLines.length - 1) * LINE) / 2 + i * LINE + 4, line)));
    if (bar.value === undefined) {
      out.push(text(BAR_X, mid + 4, bar.missing ?? 'did not run', `fill="${MUTED}" font-style="italic"`));
    } else {
      const w = length(bar.value);
      out.push(
        `<rect class="bar" x="${BAR_X}" y="${fmt(mid - BAR_HEIGHT / 2)}" width="${fmt(w)}" height="${BAR_HEIGHT}" fill="${COLORS[bar.kind]}"/>`,
      );
      const ratio = bar.ratio === undefined ? '' : ratioText(bar.ratio);
      // white under the figures keeps them legible where the reference line crosses them (width estimated)
      const figure = `${grouped(bar.value)} ${bar.unit}`;
      const figureWidth = (ratio.length + 1 + figure.length) * 12 * 0.6 + 6;
      out.push(`<rect x="${fmt(BAR_X + w + 3)}" y="${fmt(mid - 9)}" width="${fmt(figureWidth)}" height="18" fill="#ffffff"/>`);
      out.push(
        `<text x="${fmt(BAR_X + w + 6)}" y="${fmt(mid + 4)}"><tspan class="ratio" font-weight="600">${escapeXml(ratio)}</tspan>` +
          `<tspan dx="6" fill="${MUTED}">${escapeXml(figure)}</tspan></text>`,
      );
    }
    if (bar.peakRssMb !== undefined) out.push(text(RSS_RIGHT, mid + 4, `${grouped(bar.peakRssMb)} MB`, 'text-anchor="end"'));
    y += height;
  }

  y += 10;
  for (const line of chart.footer.flatMap((f) => wrap(f, charsIn(WIDTH - 2 * PAD, 11)))) {
    y += 14;
    out.push(text(PAD, y, line, `font-size="11" fill="${MUTED}"`));
  }
  const height = y + PAD;
  const title = `${chart.title}: throughput relative to ${chart.reference}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="title desc">`,
    `<title id="title">${escapeXml(title)}</title>`,
    `<desc id="desc">${escapeXml(description(chart))}</desc>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<g font-family="${escapeXml(FONT)}" font-size="12" fill="${TEXT}">`,
    ...out.map((l) => `  ${l}`),
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}
