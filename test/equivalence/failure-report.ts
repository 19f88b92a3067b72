import type { Feature } from './features.js';
import type { Failure } from './scenario-runner.js';
import { describeAction, type Action } from './workload-steps.js';

export interface FailureReportInput {
  readonly seed: number;
  readonly features: readonly Feature[];
  /** the writer steps drawn (the soak's --steps) */
  readonly steps: number;
  readonly tapConfig: Record<string, unknown>;
  readonly actions: readonly Action[];
  readonly failure: Failure;
  readonly title?: string;
}

/**
 * The text a failing check prints: how to repeat it (seed, features), the numbered actions up to the
 * failing run (SQL as the writers sent it), what failed, and per differing table its counts, checksums
 * and first differing keys with both sides' normalized values.
 */
export function formatFailure(r: FailureReportInput): string {
  const out: string[] = [];
  out.push(`=== CDC equivalence ${r.failure.kind}${r.title ? ` (${r.title})` : ''} ===`);
  out.push(`seed ${r.seed}; features ${r.features.join(',')}; tap config ${JSON.stringify(r.tapConfig)}`);
  out.push(`repeat: npm run soak -- --seed ${r.seed} --features ${r.features.join(',')} --steps ${r.steps}`);
  out.push(`steps (after setup: tables, first rows, first-day chunks compressed, a compression policy):`);
  r.actions.slice(0, r.failure.atAction + 1).forEach((a, i) => out.push(`  ${i + 1}. ${describeAction(a).replace(/\n/g, '\n     ')}`));
  out.push(`failed after step ${r.failure.atAction + 1}: ${r.failure.message}`);
  for (const c of r.failure.comparisons ?? []) {
    out.push(
      `  ${c.table}: source ${c.source.rows} rows (${c.source.checksum.slice(0, 12)}), target live ${c.target.rows} rows (${c.target.checksum.slice(0, 12)}); ${c.differing} keys differ, first:`,
    );
    for (const d of c.differences) {
      out.push(`    key ${d.key}`);
      out.push(`      source: ${d.source ?? '(no row)'}`);
      out.push(`      target: ${d.target ?? '(no live row)'}`);
    }
  }
  return out.join('\n');
}
