/**
 * The catalogs in catalog-examples/: each is the demo sample's discovered catalog with a selection
 * applied. `node dist/src/dev/catalog-examples.js` writes them anew; test/e2e/catalog-examples.test.ts
 * fails when a file no longer equals what discovery gives today, so they never go stale.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Catalog } from '../core/singer/catalog.js';
import { startEmbeddedTimescaleDb } from '../testing/embedded-timescaledb.js';
import { createSample } from './demo-sample.js';

export interface StreamChoice {
  /** left out: discovery's default holds (INCREMENTAL on a hypertable's time column or an aggregate's bucket, else FULL_TABLE) */
  readonly method?: 'FULL_TABLE' | 'INCREMENTAL';
  readonly key?: string;
}

export interface CatalogExample {
  readonly file: string;
  readonly description: string;
  /** config keys this example is meant to run with, besides the connection */
  readonly config: Record<string, unknown>;
  readonly streams: Record<string, StreamChoice>;
}

export const CATALOG_EXAMPLES: readonly CatalogExample[] = [
  {
    file: 'time-series-defaults.json',
    description:
      "only selected: discovery's defaults make the hypertable INCREMENTAL on ts, the continuous aggregate on bucket, the plain table FULL_TABLE",
    config: {},
    streams: { 'public-sensors': {}, 'public-sensors_hourly': {}, 'public-devices': {} },
  },
  {
    file: 'hypertable-full-table.json',
    description: 'a hypertable, FULL_TABLE: every chunk (compressed ones too) read through COPY, resumable per chunk',
    config: {},
    streams: { 'public-sensors': { method: 'FULL_TABLE' } },
  },
  {
    file: 'hypertable-incremental-lookback.json',
    description: 'a hypertable, INCREMENTAL on its time column: chunks before the bookmark minus the lookback are not read',
    config: { late_arrival_lookback: '2 hours' },
    streams: { 'public-sensors': { method: 'INCREMENTAL', key: 'ts' } },
  },
  {
    file: 'table-incremental-updated-at.json',
    description: 'a plain table, INCREMENTAL on updated_at',
    config: {},
    streams: { 'public-devices': { method: 'INCREMENTAL', key: 'updated_at' } },
  },
  {
    file: 'mixed-database.json',
    description: 'a hypertable, a plain table and a continuous aggregate in one run',
    config: { late_arrival_lookback: '2 hours' },
    streams: {
      'public-sensors': { method: 'INCREMENTAL', key: 'ts' },
      'public-devices': { method: 'INCREMENTAL', key: 'updated_at' },
      'public-sensors_hourly': { method: 'FULL_TABLE' },
    },
  },
];

/** The discovered catalog with only the example's streams, selected with their replication settings. */
export function applyExample(discovered: Catalog, example: Pick<CatalogExample, 'streams'>): Catalog {
  const streams = discovered.streams
    .filter((s) => example.streams[s.tap_stream_id])
    .map((s) => {
      const entry = structuredClone(s);
      const choice = example.streams[s.tap_stream_id]!;
      const root = entry.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
      root.selected = true;
      if (choice.method) root['replication-method'] = choice.method;
      if (choice.key) root['replication-key'] = choice.key;
      return entry;
    });
  return { streams };
}

async function writeAll(): Promise<void> {
  const repo = resolve(import.meta.dirname, '../../..');
  const engine = await startEmbeddedTimescaleDb();
  try {
    await createSample(engine.url);
    const dir = join(repo, 'catalog-examples');
    mkdirSync(dir, { recursive: true });
    const config = join(dir, '.discover-config.json');
    writeFileSync(config, JSON.stringify({ url: engine.url }));
    // async: this process serves the embedded engine, a sync spawn would starve it
    const { stdout } = await promisify(execFile)(process.execPath, [join(repo, 'bin/tap-timescaledb'), '--config', config, '--discover'], {
      maxBuffer: 1 << 28,
    });
    const discovered = JSON.parse(stdout) as Catalog;
    for (const example of CATALOG_EXAMPLES) {
      writeFileSync(join(dir, example.file), JSON.stringify(applyExample(discovered, example), null, 2) + '\n');
      process.stdout.write(`wrote catalog-examples/${example.file}\n`);
    }
    rmSync(config, { force: true });
  } finally {
    await engine.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  writeAll().catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
