import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';

/** Injection tokens of the core's services. Plugins resolve these from the child container they get. */
export const TOKENS = {
  Config: Symbol.for('tap.Config'),
  Logger: Symbol.for('tap.Logger'),
  Pool: Symbol.for('tap.ConnectionPool'),
  Writer: Symbol.for('tap.MessageWriter'),
  Readers: Symbol.for('tap.ReaderRegistry'),
  CopyRunner: Symbol.for('tap.CopyRunner'),
  Hooks: Symbol.for('tap.PluginHooks'),
  Plugins: Symbol.for('tap.Plugins'),
  /** the record transforms plugins registered, and skip_changes */
  Records: Symbol.for('tap.RecordTransforms'),
  /** the STATE the sync started from (a copy, never changed): what the target has confirmed */
  InitialState: Symbol.for('tap.InitialState'),
} as const;

/** Each tap run (and each test) gets its own child container, so nothing leaks between runs. */
export function createTapContainer(parent: DependencyContainer = rootContainer): DependencyContainer {
  return parent.createChildContainer();
}
