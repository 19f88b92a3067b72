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
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginError(`plugin module ${specifier} failed to load: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const candidate =
    typeof mod.createPlugin === 'function'
      ? await (mod.createPlugin as (o: unknown) => unknown)(options)
      : (mod.default ?? mod.plugin);
  const plugin = (typeof candidate === 'function' && !isPlugin(candidate) ? await (candidate as (o: unknown) => unknown)(options) : candidate) as TapPlugin;
  if (!isPlugin(plugin)) {
    throw new PluginError(
      `plugin module ${specifier} exports no plugin: export default (or 'plugin') an object with a 'name', or a function createPlugin(options)`,
    );
  }
  return plugin;
}

function isPlugin(value: unknown): value is TapPlugin {
  return typeof value === 'object' && value !== null && typeof (value as TapPlugin).name === 'string';
}
