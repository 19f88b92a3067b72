import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TAP_BIN } from '../helpers/run-tap.js';

/**
 * A running tap whose stdout the test reads at its own pace: `pause()` stops reading (the pipe fills
 * and the tap meets backpressure), `waitFor` resolves on a complete stdout line, `exited` on exit.
 */
export class TapProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { test: (m: Record<string, any>) => boolean; resolve: () => void }[] = [];

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [TAP_BIN, ...args], { env: { ...process.env, ...env } });
    this.child.stderr.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    this.child.stdout.on('data', (b: Buffer) => this.take(b.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get messages(): Record<string, any>[] {
    return this.lines.map((l) => JSON.parse(l));
  }

  /** Resolves when a stdout line matching `test` arrives (or one already has). */
  waitFor(test: (m: Record<string, any>) => boolean, timeoutMs = 60_000): Promise<void> {
    if (this.lines.some((l) => test(JSON.parse(l)))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching stdout line in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  pause(): void {
    this.child.stdout.pause();
  }

  resume(): void {
    this.child.stdout.resume();
  }

  /** Resident memory of the tap in MB, from /proc. */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  }

  private take(text: string): void {
    this.stdout += text;
    const parts = text.split('\n');
    const head = (this.pendingLine ?? '') + parts[0]!;
    const complete = parts.length > 1 ? [head, ...parts.slice(1, -1)] : [];
    this.pendingLine = parts.length > 1 ? parts.at(-1)! : head;
    for (const line of complete) {
      if (!line) continue;
      this.lines.push(line);
      const m = JSON.parse(line);
      this.waiters = this.waiters.filter((w) => (w.test(m) ? (w.resolve(), false) : true));
    }
  }

  private pendingLine: string | undefined;
}

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(fn: () => Promise<T | undefined | false | null>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
