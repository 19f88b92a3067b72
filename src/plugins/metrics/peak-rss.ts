import { readFileSync } from 'node:fs';

/**
 * The process's own peak resident set size, in bytes. On Linux this is VmHWM from /proc/self/status:
 * `getrusage().ru_maxrss` survives exec, so a tap started by a large parent (Meltano, a test runner
 * hosting the embedded engine) would report the parent's size as its own. Elsewhere, ru_maxrss.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux: fall through */
  }
  return process.resourceUsage().maxRSS * 1024;
}
