#!/usr/bin/env node
// Runs vitest (all suites, or the paths given) and ends with the plain closing line
// "tests: N passed, N failed, N skipped" that CI reads; exits with vitest's code. TESTS_SUMMARY_LABEL
// replaces "tests" (scripts/node-lts-smoke.sh: its subset is not the suite CI counts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

mkdirSync('.tmp', { recursive: true });
const out = `.tmp/vitest-results-${process.pid}.json`; // one per run: developers may run suites side by side
rmSync(out, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit', env: process.env.CI ? { ...process.env, NO_COLOR: '1' } : process.env });
const label = process.env.TESTS_SUMMARY_LABEL ?? 'tests';
let summary = `${label}: no results (vitest did not write its report)`;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  summary = `${label}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`;
} catch {
  /* keep the message above */
}
rmSync(out, { force: true });
console.log(summary);
process.exit(run.status ?? 1);
