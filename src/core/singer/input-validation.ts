import type { JsonSchema } from '../config/config-schema.js';
import { validatorFor } from '../validation/validators.js';

/**
 * Deeper input than this is refused before anything walks it recursively: a state nested 10,000 deep
 * overflowed the stack in structuredClone (a raw `Maximum call stack size exceeded`, exit 1). A catalog
 * the tap writes is about 6 deep (a JSON column's schema adds little); 64 leaves room for hand-made ones.
 */
export const MAX_INPUT_DEPTH = 64;

/** Input files larger than this are refused before JSON.parse: a state or catalog is not a data file. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** The JSON path (`streams/0/metadata`) of the first place deeper than `limit`, if any. Iterative: no recursion. */
export function tooDeep(value: unknown, limit = MAX_INPUT_DEPTH): string | undefined {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return path || '/';
    for (const [k, child] of Object.entries(v)) stack.push({ v: child, depth: depth + 1, path: `${path}/${k}` });
  }
  return undefined;
}

/**
 * Validates `value` against `schema`, returning one line per problem: the JSON path in the file and
 * what is wrong there (at most 5, so a broken 10,000-stream catalog still gives one readable line).
 */
export function inputProblems(name: 'catalog' | 'state', schema: JsonSchema, value: unknown): string[] {
  const validate = validatorFor(name, schema);
  if (validate(value)) return [];
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
  const lines = errors.slice(0, 5).map((e) => {
    const where = e.instancePath || '/';
    const extra = e.keyword === 'pattern' ? ' (a NUL character is not allowed)' : '';
    const allowed = e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join('|')})` : '';
    const key = e.keyword === 'propertyNames' ? ` (key ${JSON.stringify(e.params.propertyName)})` : '';
    return `at ${where}${key} ${e.message ?? 'is invalid'}${allowed}${extra}`;
  });
  if (errors.length > 5) lines.push(`and ${errors.length - 5} more`);
  return lines;
}
