import type { Feature } from './features.js';
import type { Prng } from './prng.js';
import { DAY0, insertSql, rowHash, rowsPicked, valueSql, type TableModel, type ValueKind } from './workload-tables.js';

/** One thing the scenario does: SQL by a writer, a wait for the background scheduler, or a tap run. */
export type Action =
  | { readonly type: 'sql'; readonly feature: Feature; readonly table: string; readonly sql: string }
  | { readonly type: 'scheduler'; readonly feature: 'scheduler'; readonly table: string; readonly job: number }
  | { readonly type: 'sync'; readonly killAfterLines?: number };

/** A generated step and the change it makes to the table model, applied only once its SQL succeeded. */
export interface GeneratedStep {
  readonly action: Action;
  apply(): void;
}

type StepFeature = Exclude<Feature, 'keyless' | 'kill' | 'kill-copy'>;
type Maker = (t: TableModel, salt: number) => { sql: string; apply?: () => void } | undefined;

const WEIGHT: Partial<Record<StepFeature, number>> = { insert: 3, update: 2, delete: 2 };

/**
 * Draws the workload's steps from the seed. Each step is plain SQL that names its salt (the step number),
 * so it means the same thing when replayed from scratch with other steps removed.
 */
export class WorkloadGenerator {
  constructor(
    private readonly rng: Prng,
    private readonly features: readonly Feature[],
    readonly tables: TableModel[],
  ) {}

  /** The next step, or undefined when no enabled feature applies to any table. */
  next(salt: number): GeneratedStep | undefined {
    const options: [StepFeature, number][] = [];
    for (const f of this.features) {
      if (f === 'keyless' || f === 'kill' || f === 'kill-copy' || f === 'scheduler') continue;
      if (this.tables.some((t) => this.maker(f)(t, salt) !== undefined)) options.push([f, WEIGHT[f] ?? 1]);
    }
    if (this.features.includes('scheduler') && this.policyTables().length) options.push(['scheduler', 1]);
    if (options.length === 0) return undefined;
    const feature = this.rng.weighted(options);
    if (feature === 'scheduler') {
      const t = this.rng.pick(this.policyTables());
      return { action: { type: 'scheduler', feature, table: t.name, job: t.policyJob! }, apply: () => undefined };
    }
    const candidates = this.tables.filter((t) => this.maker(feature)(t, salt) !== undefined);
    const table = this.rng.pick(candidates);
    const made = this.maker(feature)(table, salt)!;
    return { action: { type: 'sql', feature, table: table.name, sql: made.sql }, apply: made.apply ?? (() => undefined) };
  }

  private policyTables(): TableModel[] {
    return this.tables.filter((t) => t.policyJob !== undefined);
  }

  /**
   * The SQL a feature makes for a table (undefined: the feature does not apply to it). Probing a table
   * draws from the PRNG too: the draws, like everything else here, follow from the seed alone.
   */
  private maker(f: StepFeature): Maker {
    const keyed = (t: TableModel) => t.shape !== 'keyless-hypertable' || this.features.includes('keyless');
    const hyper = (t: TableModel) => t.shape.endsWith('hypertable');
    const rng = this.rng;
    const pred = (t: TableModel) => rowsPicked(t, rng.int(2, 12), rng.int(0, 11));
    const day = (n: number) => `${DAY0} + interval '${n} days'`;
    switch (f) {
      case 'insert':
        return (t, s) => {
          const n = rng.int(20, hyper(t) ? 300 : 120);
          if (hyper(t) && t.nextRow > 0 && rng.chance(0.3)) {
            // back-filled rows between the existing ones (often into compressed chunks): a time no other step makes
            const from = rng.int(0, t.nextRow - 1);
            return {
              sql: insertSql(t, from, Math.min(from + n, t.nextRow - 1), s, ` + interval '1 second' + ${s} * interval '1 millisecond'`),
            };
          }
          const from = t.nextRow;
          return { sql: insertSql(t, from, from + n - 1, s), apply: () => void (t.nextRow = from + n) };
        };
      case 'update':
      case 'update-null':
        return (t, s) => {
          const small = t.columns.filter((c) => c.kind !== 'bigtext');
          if (!keyed(t) || small.length === 0) return undefined;
          const chosen = small.filter(() => rng.chance(0.5));
          if (chosen.length === 0) chosen.push(rng.pick(small));
          const nulled = f === 'update-null' ? rng.pick(chosen) : undefined;
          const sets = chosen.map((c) => `${c.name} = ${c === nulled ? 'NULL' : valueSql(c.kind, rowHash(t), s)}`);
          return { sql: `UPDATE ${t.name} SET ${[...sets, ...this.toastSets(t, s)].join(', ')} WHERE ${pred(t)}` };
        };
      case 'update-key':
        return (t, s) => {
          let set: string;
          if (t.shape === 'plain') set = `id = id + ${100000 * s}`;
          else if (t.shape === 'partitioned') set = rng.chance(0.5) ? `region = (region + 10) % 30` : `id = id + ${100000 * s}`;
          else if (t.shape === 'keyless-hypertable') return undefined;
          else set = `ts = ts + interval '1 day 7 seconds' + ${s} * interval '1 microsecond'`;
          return { sql: `UPDATE ${t.name} SET ${[set, ...this.toastSets(t, s)].join(', ')} WHERE ${pred(t)}` };
        };
      case 'update-toast':
        return (t, s) => {
          const big = t.columns.find((c) => c.kind === 'bigtext');
          const small = t.columns.filter((c) => c.kind !== 'bigtext');
          if (!big || small.length === 0) return undefined;
          const c = rng.pick(small);
          return {
            sql: `UPDATE ${t.name} SET ${c.name} = ${valueSql(c.kind, rowHash(t), s)} WHERE length(${big.name}) > 2000 AND ${pred(t)}`,
          };
        };
      case 'delete':
        return (t) => {
          if (!keyed(t)) return undefined;
          if (hyper(t) && rng.chance(0.3)) {
            const from = rng.int(0, 4);
            return { sql: `DELETE FROM ${t.name} WHERE ts >= ${day(from)} AND ts < ${day(from)} + interval '${rng.int(1, 12)} hours'` };
          }
          return { sql: `DELETE FROM ${t.name} WHERE ${pred(t)}` };
        };
      case 'truncate':
        return (t) => (keyed(t) ? { sql: `TRUNCATE ${t.name}` } : undefined);
      case 'ddl-add':
      case 'ddl-add-default':
        return (t, s) => {
          if (!keyed(t)) return undefined;
          const kind = f === 'ddl-add' ? rng.pick<ValueKind>(['int', 'text', 'numeric']) : 'text';
          const name = `${f === 'ddl-add' ? 'x' : 'd'}${s}`;
          const type = { int: 'int', text: 'text', numeric: 'numeric(12,3)' }[kind as 'int' | 'text' | 'numeric'];
          const dflt = f === 'ddl-add-default' ? ` DEFAULT 'dflt${s}'` : '';
          return { sql: `ALTER TABLE ${t.name} ADD COLUMN ${name} ${type}${dflt}`, apply: () => void t.columns.push({ name, kind }) };
        };
      case 'ddl-drop':
        return (t) => {
          if (!keyed(t) || t.columns.length < 2) return undefined;
          const c = rng.pick(t.columns);
          return { sql: `ALTER TABLE ${t.name} DROP COLUMN ${c.name}`, apply: () => void (t.columns = t.columns.filter((x) => x !== c)) };
        };
      case 'ddl-rename':
        return (t, s) => {
          if (!keyed(t)) return undefined;
          const c = rng.pick(t.columns);
          const name = `${c.name.replace(/_r\d+$/, '')}_r${s}`;
          return { sql: `ALTER TABLE ${t.name} RENAME COLUMN ${c.name} TO ${name}`, apply: () => void (c.name = name) };
        };
      case 'ddl-alter-type':
        return (t) => {
          const c = t.columns.filter((x) => ['int', 'numeric', 'text'].includes(x.kind));
          if (!keyed(t) || c.length === 0) return undefined;
          const col = rng.pick(c);
          const type = { int: 'bigint', numeric: 'numeric(20,6)', text: 'varchar(300)' }[col.kind as 'int' | 'numeric' | 'text'];
          return { sql: `ALTER TABLE ${t.name} ALTER COLUMN ${col.name} TYPE ${type}` };
        };
      case 'compress':
        return (t) => {
          if (!t.compressed) return undefined;
          const d = rng.int(1, 5);
          if (rng.chance(0.6))
            return { sql: `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('${t.name}', older_than => ${day(d)}) c` };
          return {
            sql: `SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('${t.name}', newer_than => ${day(d - 1)}, older_than => ${day(d + rng.int(0, 2))}) c`,
          };
        };
      case 'run-job':
        return (t) => (t.policyJob === undefined ? undefined : { sql: `CALL run_job(${t.policyJob})` });
      case 'scheduler':
        return () => undefined; // drawn in next(): a wait, not SQL
      case 'batch-delete':
        return (t) => {
          if (!t.compressed || !t.segmentBy || !keyed(t)) return undefined;
          const d = rng.int(1, 4);
          const seg = t.segmentBy === 'sensor' ? rng.int(0, 3) : rng.int(1, 3);
          return {
            sql: `SET timescaledb.enable_compressed_direct_batch_delete = on;
SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('${t.name}', older_than => ${day(d)}) c;
DELETE FROM ${t.name} WHERE ${t.segmentBy} = ${seg} AND ts < ${day(d)}`,
          };
        };
      case 'direct-compress-insert':
        return (t, s) => {
          if (t.shape !== 'keyless-hypertable') return undefined;
          const from = t.nextRow;
          const n = rng.int(200, 600);
          return {
            sql: `SET timescaledb.enable_direct_compress_insert = on;\n${insertSql(t, from, from + n - 1, s)}`,
            apply: () => void (t.nextRow = from + n),
          };
        };
    }
  }

  /** Every UPDATE outside update-toast sets the TOASTed columns too, with fresh values, so none is left untouched. */
  private toastSets(t: TableModel, s: number): string[] {
    return t.columns.filter((c) => c.kind === 'bigtext').map((c) => `${c.name} = ${valueSql('bigtext', rowHash(t), s)}`);
  }
}

/** An action as one line of a report (SQL as the writer sent it). */
export function describeAction(a: Action): string {
  switch (a.type) {
    case 'sql':
      return `[${a.feature} ${a.table}] ${a.sql}`;
    case 'scheduler':
      return `[scheduler ${a.table}] SELECT alter_job(${a.job}, scheduled => true, schedule_interval => interval '1 second', next_start => now()); -- wait for job_stats to count a finished run, then scheduled => false`;
    case 'sync':
      return a.killAfterLines === undefined
        ? 'tap | target-postgres, then compare'
        : `tap | target-postgres, tap SIGKILLed after ${a.killAfterLines} lines (resumed by the next run)`;
  }
}
