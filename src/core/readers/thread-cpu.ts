import { readFileSync } from 'node:fs';

/**
 * CPU seconds (user + system) of the calling thread so far, from /proc/thread-self/stat (Linux); undefined
 * elsewhere. process.cpuUsage() counts every thread of the process, so it cannot tell the reading thread's
 * share from the transcode workers'.
 */
export function threadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // the fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
