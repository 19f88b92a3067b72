/**
 * Checks of a config beyond its JSON Schema. A NUL character cannot reach PostgreSQL (its text type
 * cannot hold one) nor a file path: `filter_schemas: ["a\u0000"]` failed as a raw protocol error
 * (exit 1). Each problem names the setting's path.
 */
export function configProblems(raw: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const stack: { v: unknown; path: string }[] = Object.entries(raw).map(([k, v]) => ({ v, path: k }));
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string' && v.includes('\u0000')) problems.push(`${path} holds a NUL character (\\u0000); remove it`);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: `${path}.${k}` });
    }
  }
  return problems.sort();
}
