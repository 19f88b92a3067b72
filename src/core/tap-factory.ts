import type { DependencyContainer } from 'tsyringe';
import { buildConfigSchema, type JsonSchema } from './config/config-schema.js';
import { configSecrets } from './config/config-secrets.js';
import { parseConfig } from './config/load-config.js';
import type { TapConfig } from './config/tap-config.js';
import { createTapContainer, TOKENS } from './container.js';
import { ConfigurationError, PluginError } from './errors.js';
import { StderrLogger } from './logger.js';
import { ConnectionPool } from './postgres/connection-pool.js';
import { SshTunnel } from './postgres/ssh-tunnel.js';
import { CsvRecordEncoder } from './postgres/csv-record-encoder.js';
import { CopyTextTranscoder } from './postgres/copy-text-transcoder.js';
import { PluginHooks } from './plugins/plugin-hooks.js';
import { loadPlugins, type LoadedPlugin, type PluginSpec } from './plugins/plugin-loader.js';
import type { TapPlugin } from './plugins/tap-plugin.js';
import { CopyRunner } from './readers/copy-runner.js';
import { copyTableStrategy } from './readers/copy-table-reader.js';
import { ReaderRegistry, type StrategyWrapper, type StreamClaim } from './readers/reader-registry.js';
import type { ReaderStrategy } from './readers/table-reader.js';
import { RecordTransforms, skipChangesFrom, type RecordClaim } from './records/record-transforms.js';
import type { RecordTransform } from './records/record-transform.js';
import { MessageWriter } from './singer/message-writer.js';
import { Tap } from './tap.js';
import type { Writable } from 'node:stream';

export interface TapOptions {
  /** the config object as read from --config */
  readonly rawConfig: Record<string, unknown>;
  /** built-in plugins (the CLI passes builtinPlugins()) */
  readonly builtins?: readonly TapPlugin[];
  /** module specifiers from --plugin flags */
  readonly extraPlugins?: readonly string[];
  /** options of --plugin modules, by specifier (--plugin-options MODULE=JSON) */
  readonly extraPluginOptions?: Readonly<Record<string, Record<string, unknown>>>;
  readonly stdout?: Writable;
  readonly log?: StderrLogger;
  readonly container?: DependencyContainer;
  readonly cwd?: string;
}

/** Loads the plugins the config names and merges their config schemas into the tap's. */
export async function resolvePlugins(
  options: Pick<TapOptions, 'rawConfig' | 'builtins' | 'extraPlugins' | 'extraPluginOptions' | 'cwd' | 'log'>,
): Promise<{
  plugins: LoadedPlugin[];
  schema: JsonSchema;
}> {
  const raw = options.rawConfig;
  const fromConfig = Array.isArray(raw.plugins) ? (raw.plugins as { module?: unknown; options?: Record<string, unknown> }[]) : [];
  const specs: PluginSpec[] = [
    ...(options.builtins ?? []).map((builtin) => ({ builtin })),
    ...fromConfig.map((p) => {
      if (typeof p?.module !== 'string') throw new PluginError('each entry of plugins needs a "module": a path or a package name');
      return { module: p.module, options: p.options };
    }),
    ...(options.extraPlugins ?? []).map((module) => ({ module, options: options.extraPluginOptions?.[module] })),
  ];
  const disabled = Array.isArray(raw.disable_plugins) ? (raw.disable_plugins as string[]) : [];
  const plugins = await loadPlugins(specs, disabled, options.cwd, options.log);
  const extra: Record<string, JsonSchema> = {};
  for (const { plugin } of plugins) Object.assign(extra, plugin.configSchema ?? {});
  return { plugins, schema: buildConfigSchema(extra) };
}

/** Builds a tap: validated config, a child container with the core's services, every plugin registered. */
export async function createTap(options: TapOptions): Promise<Tap> {
  const baseLog = options.log ?? new StderrLogger();
  const { plugins, schema } = await resolvePlugins({ ...options, log: baseLog });
  // the config's secrets are known before its parsing logs anything (an unknown key's name may hold one)
  const rawLog = baseLog.withSecrets(configSecrets(options.rawConfig, schema));
  const parsed: TapConfig = parseConfig(options.rawConfig, schema, rawLog);
  // and the values as parsed: a private key's "\n" become newlines
  const log = rawLog.withSecrets(
    [parsed.connection.password, parsed.sshTunnel?.privateKey, parsed.sshTunnel?.privateKeyPassword].filter((s): s is string => !!s),
  );
  // before any output: a refused key or an unreachable SSH server is a configuration error (exit 2)
  const tunnel = parsed.sshTunnel ? await SshTunnel.open(parsed.sshTunnel, parsed.connection, log) : undefined;
  const config: TapConfig = tunnel ? { ...parsed, connection: tunnel.route(parsed.connection) } : parsed;
  const container = createTapContainer(options.container);
  const pool = new ConnectionPool(config.connection, { statementTimeout: config.statementTimeout, lockTimeout: config.lockTimeout });
  if (tunnel) pool.closeAfter(() => tunnel.close());
  const readers = new ReaderRegistry();
  readers.register(copyTableStrategy);
  container.register(TOKENS.Config, { useValue: config });
  container.register(TOKENS.Logger, { useValue: log });
  container.register(TOKENS.Pool, { useValue: pool });
  container.register(TOKENS.Writer, { useValue: new MessageWriter(options.stdout ?? process.stdout) });
  container.register(TOKENS.Readers, { useValue: readers });
  container.register(TOKENS.CopyRunner, { useValue: new CopyRunner(config, new CsvRecordEncoder(), new CopyTextTranscoder()) });
  container.register(TOKENS.Hooks, {
    useValue: new PluginHooks(
      plugins.map((p) => p.plugin),
      log,
    ),
  });
  container.register(TOKENS.Plugins, { useValue: plugins });
  const records = new RecordTransforms(skipChangesFrom(config.raw));
  container.register(TOKENS.Records, { useValue: records });
  try {
    await registerPlugins(plugins, container, config, log, readers, records);
  } catch (err) {
    // the SSH tunnel closes with the pool
    await pool.end().catch(() => undefined);
    throw err;
  }
  return new Tap(container);
}

async function registerPlugins(
  plugins: readonly LoadedPlugin[],
  container: DependencyContainer,
  config: TapConfig,
  log: StderrLogger,
  readers: ReaderRegistry,
  records: RecordTransforms,
): Promise<void> {
  for (const { plugin, options: pluginOptions } of plugins) {
    try {
      const own = {
        register: (s: ReaderStrategy) => readers.register(s),
        wrap: (c: StreamClaim, w: StrategyWrapper) => readers.wrap(c, w, plugin.name),
      };
      const transforms = { transform: (c: RecordClaim, t: RecordTransform) => records.add(c, t, plugin.name) };
      await plugin.register?.(container, { config, options: pluginOptions, log, readers: own, records: transforms });
    } catch (err) {
      // a bad setting is the user's to fix (exit 2); anything else in register is the plugin's (exit 5)
      if (err instanceof ConfigurationError || err instanceof PluginError) throw err;
      throw new PluginError(`plugin ${plugin.name} failed to register: ${(err as Error).message}`, { cause: err });
    }
  }
}
