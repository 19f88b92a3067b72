import type { JsonSchema } from '../../core/config/config-schema.js';
import type { MetricsFormat } from './metric-lines.js';

/** The metrics plugin's top-level config keys (merged into `--about` and meltano.yml). */
export const metricsConfigSchema: Record<string, JsonSchema> = {
  metrics_format: {
    type: 'string',
    enum: ['singer', 'json'],
    default: 'singer',
    description:
      "METRIC lines on stderr: 'singer' (INFO METRIC: {json}, as singer-python) or 'json' (singer-sdk's structured JSON log records, for Meltano).",
  },
  metrics_interval_seconds: {
    type: 'number',
    exclusiveMinimum: 0,
    default: 60,
    description: 'Seconds between record_count METRIC increments of a stream (one more at its end).',
  },
  progress: {
    type: 'string',
    enum: ['auto', 'off'],
    default: 'auto',
    description:
      "'auto': a live progress bar per stream when stderr is a terminal, else a plain progress line every progress_interval_seconds; 'off': neither.",
  },
  progress_interval_seconds: {
    type: 'number',
    exclusiveMinimum: 0,
    default: 30,
    description: 'Seconds between plain progress lines when stderr is not a terminal.',
  },
  metrics_file: {
    type: 'string',
    description: 'Write the end-of-sync summary as JSON to this path (the --metrics-file flag sets it too).',
  },
  memory_warn_mb: {
    type: 'integer',
    minimum: 0,
    default: 1024,
    description: 'Warn once when the resident memory (RSS) of the tap passes this many MB; 0 turns the warning off.',
  },
};

export interface MetricsSettings {
  readonly format: MetricsFormat;
  readonly intervalMs: number;
  readonly progress: 'auto' | 'off';
  readonly progressIntervalMs: number;
  readonly file?: string;
  readonly memoryWarnBytes: number;
}

export function metricsSettings(raw: Readonly<Record<string, unknown>>): MetricsSettings {
  return {
    format: raw.metrics_format === 'json' ? 'json' : 'singer',
    intervalMs: Number(raw.metrics_interval_seconds ?? 60) * 1000,
    progress: raw.progress === 'off' ? 'off' : 'auto',
    progressIntervalMs: Number(raw.progress_interval_seconds ?? 30) * 1000,
    file: typeof raw.metrics_file === 'string' && raw.metrics_file !== '' ? raw.metrics_file : undefined,
    memoryWarnBytes: Number(raw.memory_warn_mb ?? 1024) * 1024 * 1024,
  };
}
