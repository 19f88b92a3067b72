import { cpSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO, run } from './python-tools.js';

/** The tap as a user gets it: a tarball from `npm pack`, installed globally into a prefix of its own. */
export interface InstalledPackage {
  readonly tarball: string;
  /** the `npm install -g --prefix` folder: `bin/tap-timescaledb`, `lib/node_modules/tap-timescaledb` */
  readonly prefix: string;
  /** the installed package's own folder */
  readonly packageDir: string;
  /** an environment whose PATH finds the installed `tap-timescaledb` first, and nothing from this repository */
  readonly env: Record<string, string>;
}

/** Top-level entries of a working copy that a fresh clone does not have. */
const NOT_IN_A_CLONE = new Set(['node_modules', 'dist', '.git', '.tmp', 'output', '.meltano']);

/**
 * npm's own variables (npm_config_local_prefix and the like, set when the tests run under `npm test`)
 * would point the npm we start at this repository; a user's shell has none of them.
 */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

async function npm(args: string[], cwd: string): Promise<string> {
  const r = await run('npm', [...args, '--no-audit', '--no-fund'], { cwd, env: userEnv(), timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Packs a copy of the repository without dist/ (so the tarball's dist/ is the prepack build's, as on a
 * fresh clone; the repository's own dist/ is left alone for suites running beside this one), then installs
 * the tarball into an empty prefix. Dependencies come from npm's cache when it has them (--prefer-offline).
 */
export async function packAndInstall(): Promise<InstalledPackage> {
  const root = mkdtempSync(join(tmpdir(), 'tap-npm-package-'));
  const clone = join(root, 'clone');
  cpSync(REPO, clone, {
    recursive: true,
    filter: (src) => {
      const top = src.slice(REPO.length + 1).split('/')[0]!;
      return !NOT_IN_A_CLONE.has(top) && !top.startsWith('.venv');
    },
  });
  symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules')); // the build's compiler and types
  await npm(['pack', '--pack-destination', root], clone);
  const tarball = join(
    root,
    readdirSync(root).find((f) => /^tap-timescaledb-.*\.tgz$/.test(f))!,
  );
  const prefix = join(root, 'prefix');
  await npm(['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], root);
  const path = [join(prefix, 'bin'), dirname(process.execPath), ...(process.env.PATH ?? '').split(':')].join(':');
  return { tarball, prefix, packageDir: join(prefix, 'lib', 'node_modules', 'tap-timescaledb'), env: userEnv({ PATH: path }) };
}
