import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const NATIVE_SCRIPT = resolve(__dirname, '../../scripts/native-postgres.sh');

/**
 * Starts a native PostgreSQL cluster in `dataDir` (scripts/native-postgres.sh) on a free port and returns
 * its admin URL and port. Ports come from 20000-31999, below Linux's ephemeral range (32768-60999): there
 * the tests' own client sockets hold ports, and a cluster picked one of them now and then ("pg_ctl: could
 * not start server"). A port taken anyway is retried with another, on a fresh data directory (the port
 * is written into postgresql.conf at initdb); any other failure is thrown with the end of the server log.
 */
export function startNativeCluster(dataDir: string): { url: string; port: number } {
  for (let attempt = 1; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    try {
      const url = execFileSync('bash', [NATIVE_SCRIPT, 'start', dataDir, String(port)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim();
      return { url, port };
    } catch (err) {
      const logFile = join(dataDir, 'server.log');
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (attempt < 4 && /could not bind|already in use|could not create any TCP\/IP sockets/i.test(log)) {
        rmSync(dataDir, { recursive: true, force: true });
        continue;
      }
      throw new Error(`${(err as Error).message.trim()}\n--- ${logFile} (end) ---\n${log.split('\n').slice(-12).join('\n')}`);
    }
  }
}

export function stopNativeCluster(dataDir: string): void {
  execFileSync('bash', [NATIVE_SCRIPT, 'stop', dataDir]);
}
