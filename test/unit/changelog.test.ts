import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(__dirname, '../..');
const changelog = readFileSync(join(REPO, 'CHANGELOG.md'), 'utf8');
const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe('CHANGELOG.md (Keep a Changelog) and the one version', () => {
  const releases = [...changelog.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map((m) => ({ name: m[1]!, date: m[2] }));

  it('starts with Unreleased, then dated releases, newest first', () => {
    expect(releases[0]).toEqual({ name: 'Unreleased', date: undefined });
    const dated = releases.slice(1);
    expect(dated.length).toBeGreaterThan(0);
    for (const r of dated) expect(r.date, r.name).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(dated.map((r) => r.date)).toEqual(
      dated
        .map((r) => r.date)
        .sort()
        .reverse(),
    );
  });

  it("names package.json's version as its newest release (the version --version and --about print)", () => {
    expect(releases[1]!.name).toBe(version);
  });

  it('uses only the section names Keep a Changelog defines', () => {
    const sections = [...changelog.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
    for (const s of sections) expect(['Added', 'Changed', 'Deprecated', 'Removed', 'Fixed', 'Security']).toContain(s);
  });
});
