import type { Catalog } from '../../src/core/singer/catalog.js';
import type { TestDatabase } from './databases.js';
import { discover, lastState, records, runTap, select, tmpJson, type TapRun } from './run-tap.js';

/** Marks streams selected with replication-method LOG_BASED, as a user or Meltano would. */
export function selectLogBased(catalog: Catalog, ids: string[]): Catalog {
  const out = select(catalog, Object.fromEntries(ids.map((id) => [id, {}])));
  for (const entry of out.streams) {
    if (!ids.includes(entry.tap_stream_id)) continue;
    entry.metadata.find((m) => m.breadcrumb.length === 0)!.metadata['replication-method'] = 'LOG_BASED';
  }
  return out;
}

/** A LOG_BASED tap for one database: run(state) runs a sync and keeps the last STATE; slots are dropped at the end. */
export async function logBasedTap(
  db: TestDatabase,
  ids: string[],
  extra: Record<string, unknown> = {},
  /** a catalog edit as a user or Meltano's `metadata:` makes it (e.g. table-key-properties) */
  edit: (catalog: Catalog) => void = () => undefined,
): Promise<{
  config: string;
  catalog: string;
  run(state?: unknown): Promise<TapRun & { recs: Record<string, any>[]; state: Record<string, any> | undefined }>;
}> {
  const config = tmpJson({ url: db.url, sslmode: 'disable', ...extra });
  const selected = selectLogBased(await discover(config), ids);
  edit(selected);
  const catalog = tmpJson(selected);
  return {
    config,
    catalog,
    async run(state?: unknown) {
      const args = ['--config', config, '--catalog', catalog];
      if (state) args.push('--state', tmpJson(state));
      const run = await runTap(args);
      const messages = run.code === 0 ? run.messages : [];
      return Object.assign(run, { recs: records(messages), state: lastState(messages) });
    },
  };
}

/** Replication slots hold WAL (and block DROP DATABASE): every test file drops the ones it made. */
export async function dropSlots(db: TestDatabase): Promise<void> {
  await db.sql(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active`);
}

/** A change without the columns that differ between runs, for comparing. */
export function change(r: Record<string, any>): Record<string, unknown> {
  const { _sdc_lsn: _l, _sdc_deleted_at: deleted, ...rest } = r;
  return { ...rest, deleted: deleted !== null };
}

/** Sets a stream's key properties in its catalog metadata, as a user does for a table without a primary key. */
export function withKeys(id: string, keys: string[]): (catalog: Catalog) => void {
  return (catalog) => {
    const entry = catalog.streams.find((s) => s.tap_stream_id === id)!;
    entry.metadata.find((m) => m.breadcrumb.length === 0)!.metadata['table-key-properties'] = keys;
  };
}
