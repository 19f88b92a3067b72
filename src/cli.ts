#!/usr/bin/env node
import { Command } from 'commander';
import { aboutInfo, aboutMarkdown, packageVersion } from './core/about.js';
import { jsonProblem } from './core/config/json-position.js';
import { readJsonFile } from './core/config/load-config.js';
import { CatalogError, ConfigurationError, InterruptedError, OutputClosedError, StateError, TapError, oneLine } from './core/errors.js';
import { StderrLogger, escapeControls, redactUrlPasswords } from './core/logger.js';
import { assertCatalog } from './core/singer/catalog.js';
import { parseState, emptyState } from './core/singer/state.js';
import { MAX_INPUT_DEPTH } from './core/singer/input-validation.js';
import { raceStop } from './core/stop-request.js';
import type { Tap } from './core/tap.js';
import { createTap, resolvePlugins } from './core/tap-factory.js';
import { builtinPlugins } from './plugins/builtin-plugins.js';

interface CliOptions {
  config?: string;
  discover?: boolean;
  catalog?: string;
  properties?: string;
  state?: string;
  about?: boolean;
  format: string;
  plugin: string[];
  pluginOptions: string[];
  metricsFile?: string;
}

/** Parses the Singer flags and runs the tap. No logic beyond choosing what to run. */
export async function main(argv = process.argv): Promise<void> {
  const program = new Command()
    .name('tap-timescaledb')
    .description('Singer tap for PostgreSQL and TimescaleDB')
    .version(packageVersion(), '-v, --version')
    .option('-c, --config <path>', 'config JSON file')
    .option('-d, --discover', 'print a catalog of the database to stdout')
    .option('--catalog <path>', 'catalog JSON file of the streams to sync')
    .option('-p, --properties <path>', 'catalog file (the older name of --catalog)')
    .option('-s, --state <path>', 'state JSON file from a previous run')
    .option('--about', 'print what the tap is and its settings')
    .option('--format <format>', 'format of --about: json or markdown', 'json')
    .option('--plugin <module>', 'load a plugin module (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option(
      '--plugin-options <module=json>',
      'options of a --plugin module: MODULE=\'{"key": …}\' or MODULE=@options.json (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--metrics-file <path>', 'write the end-of-sync summary as JSON to this file (the metrics_file setting)')
    .exitOverride()
    // --version and --help are answers, on stdout; commander's own error line is dropped, since the one
    // CRITICAL line below says the same
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: () => undefined });
  let opts: CliOptions;
  try {
    opts = program.parse(argv).opts<CliOptions>();
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.version' || e.code === 'commander.helpDisplayed') return;
    throw new ConfigurationError(`bad arguments: ${(err as Error).message.replace(/^error: /, '')}; see --help`);
  }

  const log = new StderrLogger();
  // a stop request ends the run at any point: before the first message at once (raceStop), after it once
  // the batch in hand is written and STATE follows it
  const controller = new AbortController();
  // set once the tap is built: a signal before that has no output to protect
  let tap: Tap | undefined = undefined;
  const stop = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (controller.signal.aborted) {
      // a second signal: stop now, without the batch, but never cut a line (process.exit drops what
      // stdout has not handed to the OS yet: half a line when the target was not reading)
      if (!tap?.outputStarted) process.exit(code);
      outputSealed ??= tap.sealOutput(new InterruptedError(`stopped by a second ${signal}`, signal)).then(() => process.exit(code));
      return;
    }
    log.warn(`${signal} received: ${tap?.outputStarted ? 'finishing the current batch and writing STATE' : 'stopping before any message'}`);
    controller.abort(signal);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const starting = <T>(step: Promise<T>): Promise<T> => raceStop(step, controller.signal, 'during start-up');
  // an input file read that may block in the kernel (a FIFO with no writer yet, a hung mount): see handleFatal
  const reading = <T>(read: Promise<T>): Promise<T> => {
    readsPending++;
    return starting(read.finally(() => readsPending--));
  };

  const rawConfig = opts.config ? await reading(readJsonFile(opts.config, 'config', (m) => new ConfigurationError(m))) : {};
  if (typeof rawConfig !== 'object' || rawConfig === null || Array.isArray(rawConfig)) {
    throw new ConfigurationError(`the config file ${opts.config} must hold a JSON object of settings`);
  }
  // the flag is the metrics plugin's metrics_file setting, given on the command line
  if (opts.metricsFile) (rawConfig as Record<string, unknown>).metrics_file = opts.metricsFile;
  const extraPluginOptions = await reading(parsePluginOptions(opts.pluginOptions, opts.plugin));
  const options = {
    rawConfig: rawConfig as Record<string, unknown>,
    builtins: builtinPlugins(),
    extraPlugins: opts.plugin,
    extraPluginOptions,
  };

  if (opts.about) {
    const { schema, plugins } = await starting(resolvePlugins(options));
    const info = aboutInfo(
      schema,
      plugins.map(({ plugin }) => ({
        name: plugin.name,
        settings: Object.keys(plugin.configSchema ?? {}),
        options: plugin.optionsSchema ?? null,
      })),
    );
    if (opts.format !== 'json' && opts.format !== 'markdown') throw new ConfigurationError('--format must be json or markdown');
    process.stdout.write(opts.format === 'markdown' ? aboutMarkdown(info) : JSON.stringify(info, null, 2) + '\n');
    return;
  }
  if (!opts.config) throw new ConfigurationError('--config is required: pass the path of a config JSON file');

  const catalogPath = opts.catalog ?? opts.properties;
  if (!opts.discover && !catalogPath) {
    throw new ConfigurationError('nothing to do: pass --discover to make a catalog, or --catalog to sync one');
  }
  // read the inputs before connecting, so a bad file fails fast
  const catalog = catalogPath
    ? assertCatalog(await reading(readJsonFile(catalogPath, 'catalog', (m) => new CatalogError(m), { pathInErrors: true })), catalogPath)
    : undefined;
  const state = opts.state
    ? parseState(await reading(readJsonFile(opts.state, 'state', (m) => new StateError(m), { pathInErrors: true })), opts.state)
    : emptyState();

  tap = await starting(createTap({ ...options, log }));
  try {
    if (opts.discover) {
      const discovered = await raceStop(tap.discover(), controller.signal, 'during discovery');
      await writeStdout(JSON.stringify(discovered, null, 2) + '\n');
    } else {
      await tap.sync(catalog!, state, controller.signal);
    }
  } finally {
    const ended = tap.pool.end().catch(() => undefined);
    if (controller.signal.aborted) {
      // after a stop, a query or a connection attempt still in flight must not hold the exit (the exit closes them)
      tap.pool.interrupt();
      await Promise.race([ended, new Promise((r) => setTimeout(r, 1000).unref())]);
    } else await ended;
  }
}

/**
 * `--plugin-options MODULE=JSON` (or `MODULE=@file.json`) for modules given with `--plugin`. No error
 * quotes the JSON or the file (either may hold a secret, and `@` may name any file): they name the module,
 * the file, and the line and column of a syntax error.
 */
async function parsePluginOptions(flags: readonly string[], modules: readonly string[]): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const module = flag.slice(0, Math.max(eq, 0));
    if (eq <= 0 || !modules.includes(module)) {
      throw new ConfigurationError(
        `--plugin-options ${eq > 0 ? `${module}=…` : '(a value without MODULE=)'}: give MODULE=JSON for a MODULE also passed with --plugin (${modules.length > 0 ? modules.join(', ') : 'none given'})`,
      );
    }
    const text = flag.slice(eq + 1);
    const file = text.startsWith('@') ? text.slice(1) : undefined;
    const value =
      file !== undefined
        ? await readJsonFile(file, `options of plugin ${module}`, (m) => new ConfigurationError(m))
        : parseJson(text, module);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigurationError(
        `--plugin-options for ${module}${file !== undefined ? ` (the file ${file})` : ''} must be a JSON object, e.g. ${module}='{"key": 1}'`,
      );
    }
    out[module] = value as Record<string, unknown>;
  }
  return out;
}

function parseJson(text: string, module: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text: only the place is named
    const at = jsonProblem(text, MAX_INPUT_DEPTH);
    const where = at ? `${at.problem} at column ${at.column}${at.line > 1 ? ` of line ${at.line}` : ''}` : 'a syntax error';
    throw new ConfigurationError(
      `--plugin-options for ${module} is not JSON (${where}); quote it, e.g. ${module}='{"key": 1}', or give @file.json`,
    );
  }
}

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

/** Set by a second signal: settles (and exits) once the write in flight is out. */
let outputSealed: Promise<void> | undefined;
/** Input files being read (see `reading` in main). */
let readsPending = 0;

/** The one error handler: one CRITICAL line on stderr, the error's exit code, a stack only for unknown errors. */
export function handleFatal(err: unknown): void {
  if (err instanceof OutputClosedError || (err as NodeJS.ErrnoException)?.code === 'EPIPE') {
    process.stderr.write(`INFO ${new OutputClosedError().message}\n`);
    process.exit(141);
  }
  const known = err instanceof TapError;
  const message = err instanceof Error ? err.message : String(err);
  const redacted = escapeControls(redactUrlPasswords(oneLine(message)));
  if (!known && err instanceof Error && err.stack && process.env.TAP_DEBUG) process.stderr.write(err.stack + '\n');
  process.stderr.write(`CRITICAL ${redacted}\n`);
  // after a second signal the exit waits for the line in flight (see stop in main)
  if (outputSealed) return;
  if (err instanceof InterruptedError && readsPending > 0) {
    // a read blocked in the kernel holds a thread of libuv's pool, and process.exit waits for every thread
    // of the pool: the tap would never exit. The signal's own default action ends it at once, and a shell
    // (or Meltano) sees the same 143 / 130.
    const signal = err.exitCode === 143 ? 'SIGTERM' : 'SIGINT';
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(known ? err.exitCode : 1);
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') handleFatal(new OutputClosedError());
});

main().then(
  () => (outputSealed ? undefined : process.exit(0)),
  (err) => handleFatal(err),
);
