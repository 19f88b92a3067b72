import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const REPO = resolve(__dirname, '../..');
const read = (file: string) => readFileSync(join(REPO, file), 'utf8');
const pages = readdirSync(join(REPO, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);

/** GitHub's anchor of a Markdown heading: lowercase, punctuation dropped, spaces as hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(
      m[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return out;
}

describe('README.md and docs/: a short user page, every other page linked from it, no dead link', () => {
  it('README.md stays a user page of about 300 lines at most', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(320);
  });

  it('README.md links to every docs page, and each page starts with a paragraph saying what it covers', () => {
    const readme = read('README.md');
    for (const page of pages) {
      expect(readme, page).toContain(`](${page})`);
      expect(read(page), page).toMatch(/^# .+\n\n[^#\n|`-]/);
    }
  });

  it('every relative link in README.md, docs/ and bench/README.md points to a file, and to a heading that exists', () => {
    for (const file of ['README.md', 'bench/README.md', ...pages]) {
      for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path ? join(dirname(file), path) : file;
        expect(existsSync(join(REPO, resolved)), `${file}: ${target}`).toBe(true);
        if (anchor && resolved.endsWith('.md')) expect([...anchors(read(resolved))], `${file}: ${target}`).toContain(anchor);
      }
    }
  });

  it('docs/settings.md names every setting the tap declares (the hub definition, kept equal to --about)', () => {
    const hub = parseYaml(read('meltano-hub/extractors/tap-timescaledb.yml')) as { settings: { name: string }[] };
    const settings = read('docs/settings.md');
    const missing = hub.settings.map((s) => s.name).filter((name) => !settings.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
