/**
 * Run as a child process by probeInChild (batch-root.ts): `node root-probe.js <dir> [mode]` creates the
 * directory and a probe file in it; exit 0, or exit 1 with the error's message on stdout.
 */
import { probeDirectory } from './batch-root.js';

const [dir, mode] = process.argv.slice(2);
probeDirectory(dir!, mode ? Number(mode) : undefined).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
