import type { MessageWriter } from '../singer/message-writer.js';
import type { StreamBookmark, TapState } from '../singer/messages.js';

/**
 * Stream starts and ends write STATE at most this often. Every STATE carries every bookmark, so one
 * per table made the volume quadratic: 10,000 small tables wrote 1.13 GB of STATE in 120 s. Chunk ends,
 * every `state_every_n_rows` records, retries, stops, failures and the end of the sync still write
 * STATE each time (the per-chunk and per-batch resume guarantee).
 */
export const STATE_BOUNDARY_INTERVAL_MS = 1000;

/** When a STATE is written: `boundary` (a stream's start or end) may be skipped if one was written within the interval. */
export type StateOccasion = 'checkpoint' | 'boundary';

const lastWritten = new WeakMap<MessageWriter, { at: number; text: string }>();

/** The STATE value as written: bookmarks that hold nothing (a finished FULL_TABLE stream's `{}`) are left out. */
export function stateForOutput(state: TapState): TapState {
  const bookmarks: Record<string, StreamBookmark> = {};
  for (const [id, b] of Object.entries(state.bookmarks)) if (Object.keys(b).length > 0) bookmarks[id] = b;
  return structuredClone({ ...state, bookmarks });
}

/**
 * Writes STATE unless it says nothing new: the same value as the last STATE written, or a stream
 * boundary within STATE_BOUNDARY_INTERVAL_MS of the last STATE (the next STATE, at the latest the
 * sync's last, carries the same bookmarks).
 */
export async function writeState(
  writer: MessageWriter,
  state: TapState,
  occasion: StateOccasion = 'checkpoint',
  now = Date.now(),
): Promise<boolean> {
  const last = lastWritten.get(writer);
  if (last && occasion === 'boundary' && now - last.at < STATE_BOUNDARY_INTERVAL_MS) return false;
  const value = stateForOutput(state);
  const text = JSON.stringify(value);
  if (last && last.text === text) return false;
  await writer.write({ type: 'STATE', value });
  await writer.flush();
  lastWritten.set(writer, { at: now, text });
  return true;
}
