/** One Singer metric: https://hub.meltano.com/singer/spec#metrics */
export interface MetricPoint {
  readonly type: 'counter' | 'timer';
  readonly metric: string;
  /** a counter's increment, or a timer's seconds */
  readonly value: number;
  readonly tags: Readonly<Record<string, unknown>>;
}

export type MetricsFormat = 'singer' | 'json';

/**
 * A metric as one stderr line.
 * - `singer`: `INFO METRIC: {"type":…,"metric":…,"value":…,"tags":{…}}`, the line singer-python's
 *   `metrics.parse` matches with `^INFO METRIC: (.*)$` (and singer-tools, and Meltano's plain log view).
 * - `json`: a whole JSON log record as singer-sdk's StructuredFormatter writes one for a metric
 *   (`"message":"METRIC"`, the point under `metric_info`), with the fields Meltano's SingerSDKLogParser
 *   requires (level, pid, logger_name, ts, thread_name, app_name, stream_name, message), so Meltano's
 *   structured logging reads it as a metric rather than as text.
 */
export function formatMetric(point: MetricPoint, format: MetricsFormat, now = Date.now()): string {
  const body = { type: point.type, metric: point.metric, value: point.value, tags: point.tags };
  if (format === 'singer') return `INFO METRIC: ${JSON.stringify(body)}`;
  return JSON.stringify({
    level: 'info',
    pid: process.pid,
    logger_name: 'tap_timescaledb.metrics',
    ts: now / 1000,
    thread_name: 'MainThread',
    app_name: 'tap-timescaledb',
    stream_name: typeof point.tags.stream === 'string' ? point.tags.stream : null,
    message: 'METRIC',
    metric_info: body,
    extra: {},
  });
}
