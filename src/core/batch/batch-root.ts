import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../errors.js';

/**
 * `$TMPDIR/tap-timescaledb-s3-<uid>`: the parent of the s3:// staging directories. Its name is known in
 * advance (a resumed run finds what a killed one staged), so it is safe only because the tap creates it
 * with mode 0700 and refuses one it did not (privateStagingDir).
 */
export function stagingBase(tmp: string): string {
  const who = process.getuid?.() ?? userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(tmp, `tap-timescaledb-s3-${who}`);
}

/**
 * Creates the staging parent with mode 0700, or accepts an existing one only if it is a directory (not a
 * link) of this user that no other user may read, write or enter. A directory another local user made there
 * beforehand (world-writable /tmp) would let them read every staged file, rows and all: refused, exit 2.
 */
export async function privateStagingDir(base: string): Promise<void> {
  try {
    await mkdir(base, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigurationError(
        `cannot create the staging directory ${base} of the s3:// root (${(err as Error).message}); set TMPDIR to a directory the tap can write to`,
      );
    }
  }
  const st = await lstat(base);
  const uid = process.getuid?.();
  const problem = st.isSymbolicLink()
    ? 'is a symbolic link'
    : !st.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && st.uid !== uid
        ? `belongs to another user (uid ${st.uid}, the tap runs as ${uid})`
        : process.platform !== 'win32' && (st.mode & 0o077) !== 0
          ? `may be used by other users (mode ${(st.mode & 0o777).toString(8)}, not 700)`
          : undefined;
  if (problem) {
    throw new ConfigurationError(
      `the staging directory ${base} of the s3:// root ${problem}: staged files hold rows, and the tap uses only a private directory it made itself; remove it (the tap makes it again, mode 700), or set TMPDIR to a directory of your own`,
    );
  }
}

/**
 * `mkdir -p` one level at a time. Node's `mkdir(…, { recursive: true })` loops forever, at 100% CPU on a
 * thread of its pool, where mkdir answers ENOENT though the parent exists (any path under /proc): the
 * tap hung there, silent.
 */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  try {
    await mkdir(dir, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await makeDirs(parent, mode);
  }
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** `work`, or the error of `timedOut()` after `ms`: the work is left behind (the exit ends it). */
export async function withTimeLimit<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates `dir` (`mode` for new levels) and writes, then removes, a probe file in it: what a batch file
 * will need. Never follows a link at the probe's name, never waits for a FIFO's reader.
 */
export async function probeDirectory(dir: string, mode?: number): Promise<void> {
  await makeDirs(dir, mode);
  await access(dir, constants.W_OK);
  const probe = join(dir, `.tap-timescaledb-probe-${process.pid}`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  const fh = await open(probe, flags, 0o600);
  await fh.close();
  await unlink(probe);
}

/**
 * probeDirectory in a child process, killed after `ms`. Not in the tap's own process: a file system call
 * that never returns (a hung NFS or FUSE mount) holds a thread of libuv's pool, and Node's exit waits for
 * every thread of that pool, so the tap could neither stop at the time limit nor on SIGTERM. Resolves, or
 * rejects with the probe's error message (an Error) or with `timedOut()`.
 */
export function probeInChild(dir: string, mode: number | undefined, ms: number, timedOut: () => Error): Promise<void> {
  const script = fileURLToPath(new URL('./root-probe.js', import.meta.url));
  const child = spawn(process.execPath, [script, dir, mode === undefined ? '' : String(mode)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // a process stuck in the kernel (a hard NFS mount) outlives even SIGKILL: the tap does not wait for it
      child.unref();
      child.stdout.destroy();
      reject(timedOut());
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(out.trim() || `the probe exited with code ${code}`));
    });
  });
}
