import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The built-in plugins must use exactly the API an outside plugin gets: every name they import from
 * src/core must be exported by the package entry point (src/index.ts), as a value or a type.
 */
const SRC = resolve(__dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** names in `{ a, type b, c as d }` (the imported or exported name, before `as`) */
function names(list: string): string[] {
  return list
    .split(',')
    .map((n) =>
      n
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)[0]!
        .trim(),
    )
    .filter(Boolean);
}

function publicNames(): Set<string> {
  const text = readFileSync(join(SRC, 'index.ts'), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) for (const n of names(m[1]!)) out.add(n);
  for (const m of text.matchAll(/export\s+(?:class|function|const|interface|type)\s+(\w+)/g)) out.add(m[1]!);
  return out;
}

describe('the public plugin API', () => {
  const exported = publicNames();
  const pluginFiles = files(join(SRC, 'plugins'));

  it('finds the built-in plugins and the entry point exports', () => {
    expect(pluginFiles.length).toBeGreaterThan(5);
    expect(exported.has('TapPlugin')).toBe(true);
  });

  it.each(pluginFiles.map((f) => [relative(SRC, f), f]))('%s imports from src/core only what src/index.ts exports', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const privateUses: string[] = [];
    for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'((?:\.\.\/)+core\/[^']+)'/g)) {
      for (const n of names(m[1]!)) if (!exported.has(n)) privateUses.push(`${n} (from ${m[2]})`);
    }
    expect(text).not.toMatch(/import\s+\*\s+as\s+\w+\s+from\s+'(?:\.\.\/)+core\//);
    expect(privateUses, 'export these from src/index.ts, or use what it exports').toEqual([]);
  });
});
