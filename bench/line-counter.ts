import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './data.js';

/**
 * Counts lines and Singer RECORD lines in a byte stream without parsing it: only the first bytes of
 * each line are looked at (`{"type":"RECORD"` or singer-python's `{"type": "RECORD"`), so counting
 * costs about one memchr per line and the counter never slows the contender it measures.
 */
export class LineCounter {
  lines = 0;
  records = 0;
  bytes = 0;
  lastState: string | undefined;
  private readonly head = Buffer.alloc(24);
  private headLen = 0;
  private stateParts: Buffer[] | null = null;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      const lineEnd = nl < 0 ? chunk.length : nl;
      if (this.headLen < this.head.length) {
        const prior = this.headLen;
        const take = Math.min(this.head.length - this.headLen, lineEnd - pos);
        chunk.copy(this.head, this.headLen, pos, pos + take);
        this.headLen += take;
        if (this.headLen === this.head.length || nl >= 0) this.classify(prior);
      }
      if (this.stateParts) this.stateParts.push(Buffer.from(chunk.subarray(pos, lineEnd)));
      if (nl < 0) return;
      if (this.stateParts) this.lastState = Buffer.concat(this.stateParts).toString('utf8');
      this.stateParts = null;
      this.lines++;
      this.headLen = 0;
      pos = nl + 1;
    }
  }

  /** `{"type":"R…` or `{"type": "R…` at the line's start; `prior` head bytes came from earlier chunks. */
  private classify(prior: number): void {
    const h = this.head;
    if (this.headLen < 12 || h[0] !== 123 || h[2] !== 116 || h[7] !== 58) return;
    const at = h[8] === 32 ? 10 : 9;
    if (h[at] === 82 && h[at + 1] === 69) this.records++;
    // STATE lines are rare (every N rows): keep the last whole one, for incremental runs
    else if (h[at] === 83 && h[at + 1] === 84 && this.stateParts === null) this.stateParts = [Buffer.from(h.subarray(0, prior))];
  }
}

/** What counts the contenders' output in this run: the C counter, or LineCounter in this process. */
export interface CounterChoice {
  /** the compiled bench/count-lines.c, or undefined when no C compiler built it */
  readonly binary: string | undefined;
  /** for the report's header */
  readonly description: string;
}

/**
 * Compiles bench/count-lines.c into `dir` with the system's C compiler. It counts exactly as
 * LineCounter, in a process of its own at memchr speed: counting in this process cost 0.66 CPU-s per
 * 5M lines, taken from the contender on a 2-core machine. Without a compiler, LineCounter counts.
 */
export function buildCounter(dir: string, source = join(REPO, 'bench/count-lines.c')): CounterChoice {
  const binary = join(dir, 'count-lines');
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', binary, source], { stdio: 'pipe' });
    return { binary, description: "bench/count-lines.c (C, its own process, fed by the contender's stdout pipe)" };
  } catch (err) {
    const why = (err as { code?: string }).code === 'ENOENT' ? 'no C compiler (cc)' : 'cc failed';
    return {
      binary: undefined,
      description: `LineCounter in the bench's process (${why}: it takes CPU from the contender on a small machine)`,
    };
  }
}
