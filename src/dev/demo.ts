/**
 * `npm run demo`: the tap end to end with no setup. Starts the embedded TimescaleDB, creates the
 * sample (src/dev/demo-sample.ts), runs the real CLI to discover and sync it, then syncs again
 * incrementally after new inserts, and shows what came out. Files land in output/demo/.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Catalog } from '../core/singer/catalog.js';
import { startEmbeddedTimescaleDb } from '../testing/embedded-timescaledb.js';
import { applyExample } from './catalog-examples.js';
import { createSample, SAMPLE } from './demo-sample.js';

const REPO = resolve(import.meta.dirname, '../../..');
const OUT = join(REPO, 'output', 'demo');
const say = (line = ''): void => void process.stdout.write(line + '\n');

interface CliRun {
  readonly code: number | null;
  readonly stdoutFile: string;
  readonly stderr: string;
}

/** Runs bin/tap-timescaledb as a shell or Meltano would, stdout to a file. */
function tap(args: string[], stdoutFile: string): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/tap-timescaledb'), ...args], {
      env: { ...process.env, TAP_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const exited = new Promise<number | null>((ok) => child.on('close', ok));
    // the file is complete only when the pipeline has finished, which can be after the child exits
    pipeline(child.stdout, createWriteStream(stdoutFile))
      .then(() => exited)
      .then((code) => done({ code, stdoutFile, stderr: Buffer.concat(err).toString('utf8') }), fail);
  });
}

function check(run: CliRun, what: string): void {
  if (run.code === 0) return;
  process.stderr.write(run.stderr);
  throw new Error(`${what} failed with exit code ${run.code}`);
}

function messages(file: string): { type: string; stream?: string; value?: unknown }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; stream?: string; value?: unknown });
}

function summarize(file: string, stderr: string): void {
  const all = messages(file);
  const streams = [...new Set(all.filter((m) => m.type === 'SCHEMA').map((m) => m.stream as string))];
  say(`   ${'stream'.padEnd(22)} ${'records'.padStart(8)}  ${'chunks read'.padStart(11)}  reader`);
  for (const s of streams) {
    const n = all.filter((m) => m.type === 'RECORD' && m.stream === s).length;
    const id = s; // the stream name is the tap_stream_id, <schema>-<table>
    const reader = new RegExp(`INFO ${id}: \\S+(?: on \\S+)? with reader (\\S+)`).exec(stderr)?.[1] ?? '?';
    const chunks = stderr.split('\n').filter((l) => l.startsWith(`DEBUG ${id}: chunk `)).length;
    say(`   ${s.padEnd(22)} ${String(n).padStart(8)}  ${(reader === 'timescaledb-chunks' ? String(chunks) : '-').padStart(11)}  ${reader}`);
  }
  const state = all.filter((m) => m.type === 'STATE').at(-1)?.value;
  say(`   last STATE: ${JSON.stringify(state)}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  say('tap-timescaledb demo: PostgreSQL with the real TimescaleDB extension, embedded (WASM), no setup');
  let t = Date.now();
  const engine = await startEmbeddedTimescaleDb();
  try {
    const version = (await engine.db.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`))
      .rows[0]!.v;
    say(`1. embedded TimescaleDB ${version} listening on ${engine.host}:${engine.port} (${Date.now() - t} ms)`);
    t = Date.now();
    const counts = await createSample(engine.url);
    say(`2. sample (${Date.now() - t} ms):`);
    say(`   sensors         hypertable, ${counts.chunks} one-day chunks (${counts.compressedChunks} compressed), ${counts.sensors} rows`);
    say(`   devices         plain table, ${counts.devices} rows`);
    say(`   sensors_hourly  continuous aggregate, ${counts.hourly} rows`);

    const config = join(OUT, 'config.json');
    writeFileSync(config, JSON.stringify({ url: engine.url, state_every_n_rows: 20000 }, null, 2));
    const discovered = await tap(['--config', config, '--discover'], join(OUT, 'catalog.json'));
    check(discovered, 'discovery');
    const catalog = JSON.parse(readFileSync(join(OUT, 'catalog.json'), 'utf8')) as Catalog;
    say(`3. bin/tap-timescaledb --config ${rel(config)} --discover > ${rel(join(OUT, 'catalog.json'))}`);
    say(`   streams: ${catalog.streams.map((s) => s.tap_stream_id).join(', ')} (no _timescaledb_internal chunk among them)`);
    for (const s of catalog.streams) {
      const md = s.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
      say(
        `   ${s.tap_stream_id}: ${String(md['replication-method'] ?? 'FULL_TABLE')}${md['replication-key'] ? ` on ${String(md['replication-key'])}` : ''} by default, key ${JSON.stringify(s.key_properties ?? [])}`,
      );
    }

    const selected = join(OUT, 'catalog-selected.json');
    // selected only: discovery's defaults choose INCREMENTAL on ts (hypertable) and bucket (aggregate), FULL_TABLE for the table
    const streams = { 'public-sensors': {}, 'public-devices': {}, 'public-sensors_hourly': {} } as const;
    writeFileSync(selected, JSON.stringify(applyExample(catalog, { streams }), null, 2));
    t = Date.now();
    const first = await tap(['--config', config, '--catalog', selected], join(OUT, 'run-1.jsonl'));
    check(first, 'the first sync');
    say(`4. bin/tap-timescaledb --config … --catalog ${rel(selected)} > ${rel(first.stdoutFile)}  (${Date.now() - t} ms)`);
    summarize(first.stdoutFile, first.stderr);
    const state = join(OUT, 'state-1.json');
    writeFileSync(
      state,
      JSON.stringify(
        messages(first.stdoutFile)
          .filter((m) => m.type === 'STATE')
          .at(-1)!.value,
      ),
    );

    const last = new Date(Date.parse(SAMPLE.firstDay) + SAMPLE.days * 86_400_000);
    await engine.sql(
      `INSERT INTO sensors (ts, device_id, temperature, humidity, status)
      SELECT $1::timestamptz + g * interval '10 minutes', 1 + g % ${SAMPLE.devices}, 21.5, 45, '{"ok": true}' FROM generate_series(0, 5) g`,
      [last.toISOString()],
    );
    // what the aggregate's refresh policy would do on a server with background workers
    await engine.sql(`CALL refresh_continuous_aggregate('sensors_hourly', NULL, NULL)`);
    t = Date.now();
    const second = await tap(['--config', config, '--catalog', selected, '--state', state], join(OUT, 'run-2.jsonl'));
    check(second, 'the incremental sync');
    say(`5. 6 new rows in a new day, the aggregate refreshed, then the same command with --state ${rel(state)} (${Date.now() - t} ms):`);
    summarize(second.stdoutFile, second.stderr);
    say('   (sensors re-reads only the chunk holding its bookmark and the new one; >= re-emits the rows at the bookmark;');
    say('    sensors_hourly re-reads its refresh window, bookmark - start_offset (1 day); devices is read in full again)');

    say('6. first records of each stream:');
    const records = messages(first.stdoutFile).filter((m) => m.type === 'RECORD');
    for (const s of ['public-sensors', 'public-devices', 'public-sensors_hourly']) {
      for (const r of records.filter((m) => m.stream === s).slice(0, 2)) say(`   ${JSON.stringify(r)}`);
    }
    say(`\nEverything is in ${rel(OUT)}/. Try: bin/tap-timescaledb --about --format markdown`);
  } finally {
    await engine.stop();
  }
}

function rel(path: string): string {
  return path.startsWith(REPO + '/') ? path.slice(REPO.length + 1) : path;
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
