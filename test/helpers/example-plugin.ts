import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../..');

/**
 * Builds examples/<name> the way a user would: a folder of its own with tap-timescaledb as its
 * dependency (a link to this repository, which must be built), compiled with tsc. Returns the folder.
 */
export function buildExamplePlugin(root: string, name: string): string {
  const dir = join(root, name);
  cpSync(join(REPO, 'examples', name), dir, { recursive: true, filter: (p) => !p.includes('node_modules') && !p.endsWith('/dist') });
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO, join(dir, 'node_modules/tap-timescaledb'), 'dir');
  // its devDependencies' types, as `npm install` would put them there (masking-plugin uses node:crypto)
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'pipe' });
  return dir;
}

/** A project folder that has the built plugin installed as a package (node_modules/<package>), to load it by name. */
export function projectWith(root: string, pluginDir: string, packageName: string): string {
  const project = join(root, `project-${packageName}`);
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-pipeline', private: true }));
  symlinkSync(pluginDir, join(project, 'node_modules', packageName), 'dir');
  return project;
}
