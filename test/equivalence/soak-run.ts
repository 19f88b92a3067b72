import { expect, inject, it } from 'vitest';
import { nativeTimescaleSkipReason } from '../helpers/databases.js';
import { pythonToolsSkip } from '../helpers/python-tools.js';
import { checkEquivalence, summarize, type CheckResult } from './equivalence-checker.js';
import { parseFeatures } from './features.js';
import { randomSeed } from './prng.js';

/** Writes past vitest's console capture, so a long soak shows each seed as it ends. */
const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The soak (run by scripts/soak.mjs, which sets the TAP_SOAK_* variables): random seeds, one after the
 * other, until TAP_SOAK_MINUTES are up (with TAP_SOAK_SEED: that seed once). Each failure is printed
 * with its report and shrunk steps; the test fails when any seed found a difference.
 */
it('CDC equivalence soak', async () => {
  const skip = pythonToolsSkip() ?? nativeTimescaleSkipReason;
  if (skip) throw new Error(`the soak needs native TimescaleDB and target-postgres: ${skip}`);
  const minutes = Number(process.env.TAP_SOAK_MINUTES ?? '10');
  const features = parseFeatures(process.env.TAP_SOAK_FEATURES);
  const fixedSeed = process.env.TAP_SOAK_SEED === undefined ? undefined : Number(process.env.TAP_SOAK_SEED);
  const deadline = Date.now() + minutes * 60_000;
  say(`soak: ${fixedSeed === undefined ? `${minutes} min of random seeds` : `seed ${fixedSeed}`}; features ${features.join(',')}`);
  const results: CheckResult[] = [];
  do {
    const seed = fixedSeed ?? randomSeed();
    const result = await checkEquivalence({
      adminUrl: inject('nativeUrl'),
      seed,
      features,
      steps: Number(process.env.TAP_SOAK_STEPS ?? '15'),
      stopIsFailure: !process.env.TAP_SOAK_STOPS_PASS,
      shrinkBudgetMs: Number(process.env.TAP_SOAK_SHRINK_SECONDS ?? '300') * 1000,
      log: process.env.TAP_SOAK_VERBOSE ? say : undefined,
    });
    results.push(result);
    const verdict = result.failure ? `FAILED (${result.failure.kind})` : 'equal';
    say(`seed ${seed}: ${verdict} after ${summarize(result.actions)} in ${(result.ms / 1000).toFixed(1)} s`);
    if (result.report) say(result.report);
  } while (fixedSeed === undefined && Date.now() < deadline);

  const failed = results.filter((r) => r.failure);
  say(
    `soak summary: ${results.length} seeds, ${failed.length} failed${failed.length ? ` (${failed.map((r) => `${r.seed}: ${r.failure!.kind}`).join(', ')})` : ''}; features ${features.join(',')}`,
  );
  expect(failed.map((r) => r.seed)).toEqual([]);
});
