import { InterruptedError } from './errors.js';

/**
 * Races a step that writes nothing to stdout (reading the inputs, loading plugins, checking a BATCH
 * root, discovery, the checks before a sync's first message) against a stop request (SIGTERM/SIGINT),
 * so a signal ends the run at once instead of waiting for a step that may never settle: a config on a
 * FIFO with no writer, a plugin's load, an S3 endpoint that accepts and never answers, a hung mount.
 * Rejects with the InterruptedError of the signal (exit 143 / 130); the step itself is left behind,
 * and the exit ends it. Once messages are on stdout, a stop is graceful instead (stream-sync.ts).
 */
export function raceStop<T>(work: Promise<T>, signal: AbortSignal, during: string): Promise<T> {
  if (signal.aborted) return Promise.reject(stoppedBefore(signal, during));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(stoppedBefore(signal, during));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

function stoppedBefore(signal: AbortSignal, during: string): InterruptedError {
  const name = String(signal.reason ?? 'a signal');
  return new InterruptedError(`stopped by ${name} ${during}, before any message was written`, signal.reason);
}
