/** Everything but Singer messages goes to stderr, one line per entry. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Writes one raw line to stderr (METRIC lines, progress). */
  raw(line: string): void;
}

export class StderrLogger implements Logger {
  private readonly threshold: number;
  constructor(
    level: LogLevel = (process.env.TAP_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    private readonly secrets: readonly string[] = [],
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {
    this.threshold = ORDER[level] ?? ORDER.info;
  }
  /** A logger that redacts these secrets from every line (passwords, URLs with passwords). */
  withSecrets(secrets: readonly string[]): StderrLogger {
    const level = (Object.keys(ORDER) as LogLevel[]).find((l) => ORDER[l] === this.threshold) ?? 'info';
    // each secret once: the parsed values repeat most of the raw config's (tap-factory adds both)
    return new StderrLogger(level, [...new Set([...this.secrets, ...secrets.filter((s) => s.length > 0)])], this.sink);
  }
  debug(m: string): void {
    this.log('debug', m);
  }
  info(m: string): void {
    this.log('info', m);
  }
  warn(m: string): void {
    this.log('warn', m);
  }
  error(m: string): void {
    this.log('error', m);
  }
  raw(line: string): void {
    this.sink(escapeControls(this.redact(line)));
  }
  private log(level: LogLevel, message: string): void {
    if (ORDER[level] < this.threshold) return;
    this.sink(`${level.toUpperCase()} ${escapeControls(this.redact(message))}`);
  }
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return redactUrlPasswords(out);
  }
}

/**
 * The password of any URL in a line (`postgres://user:secret@host`, `s3://key:secret@bucket`) as `***`, whatever
 * the config held: a URL may reach a line as a key's name or a plugin's message. The placeholder of our own
 * hints (`postgres://user:password@host`) is no secret and stays readable.
 */
export function redactUrlPasswords(text: string): string {
  // from `://` on, each part at most 1,024 characters: linear in the line (a scheme matched by [a-z]+ was
  // quadratic: a line of 200,000 letters, a state value the input fuzz test wrote, took 40 s)
  return text.replace(/(:\/\/[^:/@\s]{0,1024}:)(?!password@)[^@\s/]{0,1024}@/g, '$1***@');
}

/**
 * Control characters in a log message (a table named "t\nINFO forged" or holding an ESC sequence)
 * written as escapes: one entry stays one line, and a name cannot forge another log line or drive the terminal.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
