import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { PluginError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TapPlugin } from './tap-plugin.js';

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
 * A duplicate name, a missing module, a module that exports no plugin, or options that fail the
 * plugin's schema each stop the tap with a PluginError naming the plugin and the cause.
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
    const plugin = spec.builtin ?? (await importPlugin(spec.module!, spec.options ?? {}, cwd));
    seen.add(plugin.name);
    if (disabled.includes(plugin.name)) {
      log?.warn(`plugin ${plugin.name} is turned off by disable_plugins${plugin.disabledNotice ? `: ${plugin.disabledNotice}` : ''}`);
      continue;
    }
    if (names.has(plugin.name)) {
      throw new PluginError(`plugin ${plugin.name} is loaded twice${spec.module ? ` (again from ${spec.module})` : ''}: remove the duplicate`);
    }
    names.add(plugin.name);
    const options = structuredClone(spec.options ?? {});
    if (plugin.optionsSchema) {
      const validate = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(plugin.optionsSchema);
      if (!validate(options)) {
        const problems = (validate.errors ?? []).map((e) => `${e.instancePath.slice(1) || 'options'} ${e.message}`);
        throw new PluginError(`plugin ${plugin.name}: invalid options: ${problems.join('; ')}`);
      }
    }
    out.push({ plugin, options });
  }
  const unknown = disabled.filter((d) => !seen.has(d));
  if (unknown.length > 0) log?.warn(`disable_plugins names no loaded plugin: ${unknown.join(', ')}`);
  return out;
}

async function importPlugin(specifier: string, options: Record<string, unknown>, cwd: string): Promise<TapPlugin> {
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
  let plugin: TapPlugin;
  try {
    const candidate =
      typeof mod.createPlugin === 'function'
        ? await withDeadline(Promise.resolve((mod.createPlugin as (o: unknown) => unknown)(options)), specifier, 'create the plugin')
        : (mod.default ?? mod.plugin);
    plugin = (typeof candidate === 'function' && !isPlugin(candidate)
      ? await withDeadline(Promise.resolve((candidate as (o: unknown) => unknown)(options)), specifier, 'create the plugin')
      : candidate) as TapPlugin;
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(`plugin module ${specifier} failed to create its plugin: ${String((err as Error)?.message ?? err).split('\n')[0]}`, { cause: err });
  }
  if (!isPlugin(plugin)) {
    throw new PluginError(
      `plugin module ${specifier} exports no plugin: export default (or 'plugin') an object with a 'name', or a function createPlugin(options)`,
    );
  }
  return plugin;
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
      () => reject(new PluginError(`plugin module ${specifier} did not ${what} within ${ms / 1000} s (a top-level await or a factory that never settles?): fix or remove the plugin`)),
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
