import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import type { Logger } from '../../core/logger.js';
import { progressFigures, progressLine } from './progress-format.js';
import type { StreamStats } from './stream-stats.js';

const require = createRequire(import.meta.url);

/** Where progress goes: live bars on a terminal, plain log lines otherwise. Both redraw on a timer, never per batch. */
export interface ProgressDisplay {
  /** how often the plugin calls `tick` */
  readonly tickMs: number;
  add(stats: StreamStats): void;
  /** the streams still running, on every tick */
  tick(active: readonly StreamStats[]): void;
  done(stats: StreamStats): void;
  /** writes one of the plugin's own lines (a METRIC) without breaking the display */
  line(text: string): void;
  stop(): void;
}

/** For a pipe or a file (Meltano, CI): a plain `INFO progress …` line per stream every interval, no escape codes. */
export class PlainProgress implements ProgressDisplay {
  constructor(
    private readonly log: Logger,
    readonly tickMs: number,
  ) {}
  add(): void {}
  tick(active: readonly StreamStats[]): void {
    for (const s of active) this.log.info(`progress ${s.id}: ${progressLine(s)}`);
  }
  done(stats: StreamStats): void {
    this.log.info(`progress ${stats.id}: done, ${progressLine(stats)}`);
  }
  line(text: string): void {
    this.log.raw(text);
  }
  stop(): void {}
}

/** Nothing on screen, METRIC lines still written (progress: off). */
export class NoProgress extends PlainProgress {
  override tick(): void {}
  override done(): void {}
}

/**
 * A cli-progress bar per stream on a terminal: chunks done of total, rows, rows/s, bytes, ETA.
 * While the bars are up, every other stderr write (the tap's log lines, METRIC lines) is held and
 * printed above the bars at their next redraw, so lines never land in the middle of a bar.
 */
export class TerminalProgress implements ProgressDisplay {
  readonly tickMs = 250;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private readonly multi: cliProgress.MultiBar;
  private readonly originalWrite = process.stderr.write;
  private active = false;

  constructor() {
    // cli-progress draws through a view of stderr whose write is the real one, not the interception below
    const terminal = Object.create(process.stderr, { write: { value: this.originalWrite.bind(process.stderr) } }) as NodeJS.WriteStream;
    // loaded here: only a terminal draws bars, and a run into a pipe (Meltano, CI) need not load it
    const bars = require('cli-progress') as typeof cliProgress;
    this.multi = new bars.MultiBar(
      {
        stream: terminal,
        format: '{stream} [{bar}] {chunks} | {rows} | {rate} | {bytes} | {remaining}',
        hideCursor: true,
        clearOnComplete: false,
        emptyOnZero: true,
        gracefulExit: false, // the CLI's SIGINT/SIGTERM handling ends the sync, and onSyncEnd stops the bars
        barsize: 24,
      },
      bars.Presets.shades_classic,
    );
  }

  add(stats: StreamStats): void {
    if (!this.active) this.intercept();
    this.bars.set(stats.id, this.multi.create(stats.chunksTotal ?? 0, stats.chunksDone, this.payload(stats)));
  }

  tick(active: readonly StreamStats[]): void {
    for (const s of active) this.refresh(s);
  }

  done(stats: StreamStats): void {
    this.refresh(stats);
  }

  line(text: string): void {
    if (this.active) this.multi.log(text + '\n');
    else process.stderr.write(text + '\n');
  }

  stop(): void {
    if (!this.active) return;
    this.multi.update(); // prints the lines held since the last redraw, above the bars
    this.multi.stop();
    process.stderr.write = this.originalWrite;
    process.removeListener('exit', this.showCursor);
    this.active = false;
  }

  /** A second SIGINT exits at once, without onSyncEnd: give the terminal its cursor back anyway. */
  private readonly showCursor = (): void => {
    this.originalWrite.call(process.stderr, '\x1b[?25h\n');
  };

  private refresh(stats: StreamStats): void {
    const bar = this.bars.get(stats.id);
    if (!bar) return;
    if (stats.chunksTotal !== undefined && bar.getTotal() !== stats.chunksTotal) bar.setTotal(stats.chunksTotal);
    bar.update(stats.chunksDone, this.payload(stats));
  }

  private payload(stats: StreamStats): Record<string, string> {
    // `remaining`, not `eta`: cli-progress fills its own {eta} token from its own estimate
    const { eta, ...figures } = progressFigures(stats);
    return { stream: stats.id, ...figures, remaining: eta };
  }

  private intercept(): void {
    this.active = true;
    process.once('exit', this.showCursor);
    const hold = (chunk: unknown, ...rest: unknown[]): boolean => {
      this.multi.log(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const callback = rest.find((r): r is () => void => typeof r === 'function');
      if (callback) process.nextTick(callback);
      return true;
    };
    process.stderr.write = hold as typeof process.stderr.write;
  }
}
