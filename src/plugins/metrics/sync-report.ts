/**
 * A public service of the metrics plugin: other plugins hand it their end-of-sync report, and it
 * appears in the summary block on stderr and under `reports` in the `--metrics-file` JSON, instead
 * of a log line of their own. Resolve it from the container in a hook (it is registered only when the
 * metrics plugin is loaded: fall back to logging the line), and add before the metrics plugin's own
 * `onSyncEnd` prints the summary, i.e. from an earlier hook or from the `onSyncEnd` of a plugin loaded
 * before it (built-ins load first).
 */
export interface SyncReport {
  add(section: ReportSection): void;
}

export interface ReportSection {
  /** the plugin's name: the key under `reports` in the metrics file */
  readonly plugin: string;
  /** one human line for the summary block */
  readonly line: string;
  /** the same, as data for the metrics file */
  readonly data: Record<string, unknown>;
}

export const SYNC_REPORT = Symbol.for('tap.metrics.SyncReport');

/** The sections handed in so far, in order. */
export class SyncReportSections implements SyncReport {
  readonly sections: ReportSection[] = [];
  add(section: ReportSection): void {
    this.sections.push(section);
  }
}
