/**
 * Typed errors, grouped by what the runner does with them (after singer-sdk and oclif).
 * Each carries its exit code; `handleFatal` in cli.ts prints one CRITICAL line and exits.
 */
export class TapError extends Error {
  /** Process exit code for this kind of failure. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The config is invalid or the database refuses it (credentials, unknown database, TLS). Exit 2. */
export class ConfigurationError extends TapError {
  override readonly exitCode = 2;
}

/** The catalog is malformed or names what no longer exists. Exit 3. */
export class CatalogError extends TapError {
  override readonly exitCode = 3;
}

/** The state is malformed or does not fit the catalog. Exit 4. */
export class StateError extends TapError {
  override readonly exitCode = 4;
}

/** A sync failed in a way a retry will not fix. Exit 1. */
export class FatalSyncError extends TapError {}

/** A sync step failed in a way that a retry may fix (lost connection, lock timeout). */
export class RetriableSyncError extends TapError {}

/** A plugin failed to load or register; the message names the plugin. Exit 5. */
export class PluginError extends TapError {
  override readonly exitCode = 5;
}

/**
 * A plugin stopped the sync on purpose (a budget, a guard): thrown from any hook or reader wrapper. The
 * sync stops after the batch in hand, writes STATE for what is complete and prints one CRITICAL line in
 * the plugin's words. Exit 6.
 */
export class StopSyncError extends TapError {
  override readonly exitCode = 6;
  /** the plugin that stopped the sync (the core sets it for hooks and wrappers) */
  plugin?: string;
  /** the stream it stopped in (the core sets it, with the message the CRITICAL line shows) */
  stream?: string;
}

/**
 * True for a StopSyncError, also one from another copy of this package (a plugin installed with its own
 * tap-timescaledb), where `instanceof` fails: the class name is the contract.
 */
export function isStopSync(err: unknown): err is StopSyncError {
  return err instanceof StopSyncError || (err instanceof Error && err.name === 'StopSyncError');
}

/** The consumer of stdout went away (EPIPE). Exit 141 like a shell's SIGPIPE. */
export class OutputClosedError extends TapError {
  override readonly exitCode = 141;
  constructor() {
    super('stdout was closed by the reader (the target exited); stopping');
  }
}

/** The tap was asked to stop (SIGTERM/SIGINT) and stopped after writing STATE. Exit 143 or 130, as a shell reports them. */
export class InterruptedError extends TapError {
  override readonly exitCode: number;
  constructor(message: string, signal?: unknown) {
    super(message);
    this.exitCode = signal === 'SIGTERM' ? 143 : 130;
  }
}

/** Turns an error's message into one line, for the CRITICAL line and logs. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}
