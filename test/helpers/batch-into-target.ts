import { expect } from 'vitest';
import { manifestFiles } from './batch-files.js';
import { run } from './python-tools.js';
import { TAP_BIN, tmpJson } from './run-tap.js';

/**
 * Runs the tap with `batch_config` (files closed at 700 rows, STATE every 100) on a 3,000-row stream, checks
 * that it wrote BATCH messages and no RECORD, then pipes its output into a MeltanoLabs target-postgres
 * executable that loads the stream into `schema` of the destination.
 */
export async function batchesIntoTargetPostgres(options: {
  sourceUrl: string;
  destUrl: string;
  catalog: string;
  schema: string;
  batchConfig: Record<string, unknown>;
  targetPostgres: string;
}): Promise<void> {
  const config = tmpJson({ url: options.sourceUrl, batch_config: options.batchConfig, state_every_n_rows: 100 });
  const targetConfig = tmpJson({
    sqlalchemy_url: options.destUrl.replace(/^postgres:/, 'postgresql+psycopg:'),
    default_target_schema: options.schema,
  });
  const tap = await run(process.execPath, [TAP_BIN, '--config', config, '--catalog', options.catalog]);
  expect(tap.code, tap.stderr).toBe(0);
  const messages = tap.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(messages.some((m) => m.type === 'RECORD')).toBe(false);
  expect(manifestFiles(messages).length).toBe(5); // 3000 rows in batches of 100, a file closed at 700
  const r = await run('bash', [
    '-o',
    'pipefail',
    '-c',
    `"${options.targetPostgres}" --config "${targetConfig}" < "${tmpJson(tap.stdout, 'tap.jsonl')}"`,
  ]);
  expect(r.code, r.stderr.slice(-3000)).toBe(0);
}
