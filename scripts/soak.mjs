#!/usr/bin/env node
// npm run soak -- --minutes N [--seed S] [--features a,b,…] [--steps N] [--stops-pass]
// Runs the CDC equivalence checker on random seeds (or one given seed) until the time is up, on a
// throw-away native TimescaleDB cluster of its own (the test harness's global setup), printing each
// seed's result and a summary; exits non-zero when any seed found a difference.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    features: { type: 'string' },
    steps: { type: 'string', default: '15' },
    'stops-pass': { type: 'boolean', default: false },
    'shrink-seconds': { type: 'string', default: '300' },
  },
});
for (const k of ['minutes', 'steps', 'shrink-seconds', ...(values.seed ? ['seed'] : [])]) {
  if (!/^\d+(\.\d+)?$/.test(values[k])) {
    console.error(`soak: --${k} must be a number, got "${values[k]}"`);
    process.exit(2);
  }
}
const env = {
  ...process.env,
  TAP_SOAK_MINUTES: values.minutes,
  TAP_SOAK_STEPS: values.steps,
  TAP_SOAK_SHRINK_SECONDS: values['shrink-seconds'],
  TAP_SOAK_STOPS_PASS: values['stops-pass'] ? '1' : '',
  ...(values.seed ? { TAP_SOAK_SEED: values.seed } : {}),
  ...(values.features ? { TAP_SOAK_FEATURES: values.features } : {}),
};
const run = spawnSync('npx', ['vitest', 'run', '--config', 'test/equivalence/soak.vitest.config.ts'], { stdio: 'inherit', env });
process.exit(run.status ?? 1);
