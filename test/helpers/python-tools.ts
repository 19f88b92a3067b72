import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The real Singer clients, installed by scripts/python-tools.sh into project-local venvs. */
export const REPO = resolve(__dirname, '../..');
export const TOOLS = {
  meltano: join(REPO, '.venv-meltano/bin/meltano'),
  targetJsonl: join(REPO, '.venv-target-jsonl/bin/target-jsonl'),
  targetPostgres: join(REPO, '.venv-target-postgres/bin/target-postgres'),
  checkTap: join(REPO, '.venv-singer-tools/bin/singer-check-tap'),
};

/**
 * Why the Python-tool suites skip here, or undefined when the tools are installed. Under CI=true a
 * missing tool is a failure, never a skip: CI installs them with scripts/python-tools.sh.
 */
export function pythonToolsSkip(): string | undefined {
  const missing = Object.entries(TOOLS)
    .filter(([, path]) => !existsSync(path))
    .map(([name]) => name);
  if (missing.length === 0) return undefined;
  const reason = `Python tools not installed (${missing.join(', ')}): run bash scripts/python-tools.sh`;
  if (process.env.CI) throw new Error(`CI must run the Meltano and target suites: ${reason}`);
  return reason;
}

/** A throw-away Meltano project: this repo's meltano.yml with the tap and the target venvs linked in. */
export function meltanoProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tap-meltano-'));
  copyFileSync(join(REPO, 'meltano.yml'), join(dir, 'meltano.yml'));
  for (const name of ['bin', 'dist', 'package.json', 'node_modules', '.venv-target-jsonl', '.venv-target-postgres']) {
    symlinkSync(join(REPO, name), join(dir, name));
  }
  return dir;
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number; shell?: boolean } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, MELTANO_SEND_ANONYMOUS_USAGE_STATS: 'false', NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: options.shell,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.input ?? '');
  });
}
