import { StateError } from '../errors.js';
import type { StreamBookmark, TapState } from './messages.js';
import { stateInputSchema } from './input-schemas.js';
import { inputProblems } from './input-validation.js';

export function emptyState(): TapState {
  return { bookmarks: {}, currently_syncing: null };
}

/**
 * Accepts the state a previous run emitted, Meltano's wrapper (`{"singer_state": …}`),
 * or `{}`. Anything else is a StateError that names the fix.
 */
export function parseState(input: unknown, path: string): TapState {
  if (input === null || input === undefined) return emptyState();
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new StateError(`the state ${path} must be a JSON object like {"bookmarks": {…}}; pass the last STATE value or {}`);
  }
  let value = input as Record<string, unknown>;
  if (typeof value.singer_state === 'object' && value.singer_state !== null) value = value.singer_state as Record<string, unknown>;
  if (value.type === 'STATE' && typeof value.value === 'object' && value.value !== null) value = value.value as Record<string, unknown>;
  const bookmarks = value.bookmarks ?? {};
  if (typeof bookmarks !== 'object' || bookmarks === null || Array.isArray(bookmarks)) {
    throw new StateError(`the state ${path} has "bookmarks" that is not an object; pass the last STATE value or {}`);
  }
  for (const [id, b] of Object.entries(bookmarks)) {
    if (typeof b !== 'object' || b === null || Array.isArray(b)) {
      throw new StateError(`the state ${path} has a bookmark for ${id} that is not an object; remove it or pass {}`);
    }
  }
  // the checks above name the commonest mistakes in words; the schema types every field the tap uses
  const problems = inputProblems('state', stateInputSchema, value);
  if (problems.length > 0) {
    throw new StateError(
      `the state ${path} is malformed: ${problems.join('; ')}; fix these fields, remove the bookmarks they are in, or pass the last STATE value the tap wrote`,
    );
  }
  return {
    ...value,
    bookmarks: structuredClone(bookmarks) as Record<string, StreamBookmark>,
    currently_syncing: typeof value.currently_syncing === 'string' ? value.currently_syncing : null,
  };
}
