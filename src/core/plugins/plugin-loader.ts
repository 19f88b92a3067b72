import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { PluginError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TapPlugin } from './tap-plugin.js';
import type { JsonSchema } from '../config/config-schema.js';
import { newAjv } from '../validation/validators.js';

/** One plugin to load: a built-in instance, or a module named by path or package. */
export interface PluginSpec {
  readonly module?: string;
  readonly builtin?: TapPlugin;
  readonly options?: Record<string, unknown>;
}

export interface LoadedPlugin {
  readonly plugin: TapPlugin;
  readonly options: Record<string, unknown>;
}

/**
 * Loads plugins in order (built-ins first, then the config's `plugins`, then `--plugin` flags).
 * A duplicate name, a missing module, a module that exports no plugin, a factory that throws, or options
 * that fail the plugin's schema each stop the tap with a PluginError (exit 5) naming the plugin and the cause.
 */
export async function loadPlugins(
  specs: readonly PluginSpec[],
  disabled: readonly string[],
  cwd = process.cwd(),
  log?: Logger,
): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  const names = new Set<string>();
  const seen = new Set<string>();
  for (const spec of specs) {
    const imported = spec.builtin
      ? { plugin: spec.builtin, options: spec.options ?? {} }
      : await importPlugin(spec.module!, spec.options ?? {}, cwd);
    const plugin = imported.plugin;
    seen.add(plugin.name);
    if (disabled.includes(plugin.name)) {
      log?.warn(`plugin ${plugin.name} is turned off by disable_plugins${plugin.disabledNotice ? `: ${plugin.disabledNotice}` : ''}`);
      continue;
    }
    if (names.has(plugin.name)) {
      throw new PluginError(
        `plugin ${plugin.name} is loaded twice${spec.module ? ` (again from ${spec.module})` : ''}: remove the duplicate`,
      );
    }
    names.add(plugin.name);
    const options = structuredClone(imported.options);
    if (plugin.optionsSchema) validateOptions(plugin.optionsSchema, options, `plugin ${plugin.name}`);
    out.push({ plugin, options });
  }
  const unknown = disabled.filter((d) => !seen.has(d));
  if (unknown.length > 0) log?.warn(`disable_plugins names no loaded plugin: ${unknown.join(', ')}`);
  return out;
}

async function importPlugin(
  specifier: string,
  options: Record<string, unknown>,
  cwd: string,
): Promise<{ plugin: TapPlugin; options: Record<string, unknown> }> {
  const isPath = specifier.startsWith('.') || isAbsolute(specifier);
  let url: string;
  try {
    if (isPath && !existsSync(resolve(cwd, specifier))) throw new Error(`no file at ${resolve(cwd, specifier)}`);
    url = isPath
      ? pathToFileURL(resolve(cwd, specifier)).href
      : pathToFileURL(createRequire(resolve(cwd, 'package.json')).resolve(specifier)).href;
  } catch (err) {
    throw new PluginError(`plugin module ${specifier} not found (${(err as Error).message.split('\n')[0]}): install it or fix the path`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await withDeadline(import(url), specifier, 'load')) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(`plugin module ${specifier} failed to load: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  // a factory gets its options validated, with defaults, against the schema the module exports with it
  const exported = mod.default ?? mod.plugin;
  const factory =
    typeof mod.createPlugin === 'function'
      ? mod.createPlugin
      : typeof exported === 'function' && !isPlugin(exported)
        ? exported
        : undefined;
  let validated = options;
  let candidate: unknown = exported;
  if (factory) {
    validated = structuredClone(options);
    if (isSchema(mod.optionsSchema)) validateOptions(mod.optionsSchema, validated, `plugin module ${specifier}`);
    try {
      candidate = await withDeadline(Promise.resolve((factory as (o: unknown) => unknown)(validated)), specifier, 'create the plugin');
    } catch (err) {
      if (err instanceof PluginError) throw err;
      throw new PluginError(
        `plugin module ${specifier} failed to create its plugin: ${String((err as Error)?.message ?? err).split('\n')[0]}`,
        { cause: err },
      );
    }
  }
  if (!isPlugin(candidate)) {
    throw new PluginError(
      `plugin module ${specifier} exports no plugin: export default (or 'plugin') an object with a 'name', or a function createPlugin(options)`,
    );
  }
  return { plugin: candidate, options: validated };
}

/** Validates (and fills in the defaults of) options in place; the error names each property and the plugin. */
function validateOptions(schema: JsonSchema, options: Record<string, unknown>, who: string): void {
  const validate = newAjv({ allErrors: true, useDefaults: true, strict: false }, false).compile(schema);
  if (validate(options)) return;
  const problems = (validate.errors ?? []).map((e) => {
    const at = `options${e.instancePath.replace(/\//g, '.')}`;
    const params = e.params as { missingProperty?: string; additionalProperty?: string };
    if (e.keyword === 'required') return `${at}.${params.missingProperty} is required`;
    if (e.keyword === 'additionalProperties') return `${at}.${params.additionalProperty} is not a known option`;
    return `${at} ${e.message}`;
  });
  throw new PluginError(`${who}: invalid options: ${problems.join('; ')}`);
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How long a plugin module may take to load and create its plugin (TAP_PLUGIN_LOAD_TIMEOUT_MS, default 30 s).
 * A top-level `await` that never settles leaves nothing for the event loop to wait on: Node then exits
 * with code 0 and no output, as if the sync had succeeded. The timer keeps the process alive and
 * turns the hang into exit 5 naming the plugin.
 */
function loadTimeoutMs(): number {
  const ms = Number(process.env.TAP_PLUGIN_LOAD_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 30_000;
}

async function withDeadline<T>(work: Promise<T>, specifier: string, what: string): Promise<T> {
  const ms = loadTimeoutMs();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PluginError(
            `plugin module ${specifier} did not ${what} within ${ms / 1000} s (a top-level await or a factory that never settles?): fix or remove the plugin`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function isPlugin(value: unknown): value is TapPlugin {
  return typeof value === 'object' && value !== null && typeof (value as TapPlugin).name === 'string';
}
