import type pg from 'pg';
import { ConfigurationError, StateError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectionPool } from '../../core/postgres/connection-pool.js';
import { translateQueryError } from '../../core/postgres/connection-pool.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../../core/postgres/sql.js';
import type { StreamPlan } from '../../core/readers/stream-plan.js';
import type { ConnectionSettings } from '../../core/config/tap-config.js';
import { walStream, type WalMessage } from './wal-stream.js';
import type { TapState } from '../../core/singer/messages.js';
import { bookmarkLsn, formatLsn, parseLsn } from './lsn.js';
import type { ReplicationSettings } from './replication-config.js';
import { BatchDeleteWatch, watchSlotName } from './batch-delete-watch.js';
import type { RelationMap } from './relation-map.js';
import { ensurePublication } from './publication.js';
import {
  checkColumnPrivileges,
  checkFilteredIdentity,
  checkFreeSlots,
  checkNotStandby,
  checkRowSecurity,
  checkStateLsns,
} from './replication-checks.js';

/** restart_lsn this far behind the confirmed position (one WAL segment) is moved up before a read. */
const RESTART_LAG = 16n * 1024n * 1024n;

interface SlotRow {
  exists: boolean;
  plugin: string | null;
  confirmed: string | null;
  wal_status: string | null;
  active: boolean;
}

/**
 * The server side of LOG_BASED, once per run: wal_level, the publication, the persistent slot, each
 * stream's replica identity; what the slot may forget (confirm), and where this run stops (upto).
 * Every failure names the SQL a DBA runs to fix it.
 */
export class ReplicationService {
  private checked?: Promise<void>;
  private confirmed?: Promise<bigint>;
  private stop?: Promise<bigint>;
  /** streams that are compressed hypertables: their runs look for whole batches deleted directly */
  private readonly compressed = new Set<string>();
  private readonly watch: BatchDeleteWatch;
  readonly watchSlot: string;
  /** slots this run created, until a copy's position is in a bookmark */
  private readonly created: string[] = [];

  constructor(
    private readonly pool: ConnectionPool,
    readonly settings: ReplicationSettings,
    private readonly log: Logger,
    private readonly initialState: () => TapState | undefined,
  ) {
    this.watchSlot = watchSlotName(settings.slot);
    this.watch = new BatchDeleteWatch(this.watchSlot, log);
  }

  /**
   * Everything LOG_BASED needs of the server, the role and the state for this stream, checked for every
   * stream before the run's first message: wal_level, the replica identity and key, direct batch deletes,
   * row-level security, column privileges, the state's WAL positions, the publication, free slots.
   */
  async preflight(plan: StreamPlan, chain = 'logical-replication'): Promise<void> {
    if (plan.relation.relkind === 'v' || plan.relation.relkind === 'm') {
      throw new ConfigurationError(
        `${plan.tapStreamId} is a view: logical decoding has no changes for views (a materialized-only continuous aggregate is read through its materialization); read it FULL_TABLE or INCREMENTAL`,
      );
    }
    this.checked ??= this.pool.use(async (c) => {
      await checkNotStandby(c);
      await checkWalLevel(c);
      await checkStateLsns(c, this.initialState());
    });
    await this.checked;
    checkRowSecurity(plan);
    await this.pool.use(async (c) => {
      await this.checkBehindSlot(c, plan);
      await this.checkReplicaIdentity(c, plan);
      await checkFilteredIdentity(c, plan, chain);
      await checkColumnPrivileges(c, plan);
      await this.checkDirectBatchDelete(c, plan);
      await ensurePublication(c, this.settings.publication, plan, this.log);
      const slots = [this.settings.slot, ...(this.compressed.has(plan.tapStreamId) ? [this.watchSlot] : [])];
      const { rows } = await c.query<{ name: string }>(`SELECT slot_name AS name FROM pg_replication_slots WHERE slot_name = ANY($1)`, [
        slots,
      ]);
      const missing = slots.filter((n) => !rows.some((r) => r.name === n));
      // a copy (first run, or again) takes a temporary slot for its snapshot
      await checkFreeSlots(c, missing.length + 1, [...missing, 'a temporary one for a copy']);
    });
  }

  /**
   * The publication covers the stream; the slot exists (created on a first run) and is usable. Returns
   * true when the stream's changes so far cannot be checked for whole batches deleted directly (its
   * hypertable is compressed and the watching slot is new beside an older slot of the tap's).
   */
  async prepare(plan: StreamPlan, firstRun: boolean): Promise<boolean> {
    return this.pool.use(async (c) => {
      const slot = await slotRow(c, this.settings.slot);
      const watched = this.compressed.has(plan.tapStreamId);
      if (!slot.exists) {
        if (!firstRun) throw this.slotGone('does not exist (dropped?)', plan);
        // the watching slot first, so that it sees every transaction the tap's own will
        if (watched && (await this.watch.ensure(c, false))) this.created.push(this.watchSlot);
        await this.createSlot(c);
        this.created.push(this.settings.slot);
        return false;
      }
      if (slot.wal_status === 'lost') {
        throw this.slotGone('was invalidated: the server removed WAL it still needed (max_slot_wal_keep_size)', plan);
      }
      if (slot.plugin !== 'pgoutput') {
        throw new ConfigurationError(
          `replication slot ${this.settings.slot} uses the ${slot.plugin ?? 'physical'} plugin, LOG_BASED reads pgoutput: drop it (SELECT pg_drop_replication_slot(${quoteLiteral(this.settings.slot)})) or set replication_slot to another name`,
        );
      }
      return watched && !(await this.watch.ensure(c, true)) && !firstRun;
    });
  }

  /**
   * Lets the slot release the WAL the target has: up to the smallest `lsn` of the STATE this run was
   * given (never what this run emits: the target may still fail after the tap). Once per run.
   * Returns the slot's confirmed_flush_lsn after it.
   */
  confirm(): Promise<bigint> {
    this.confirmed ??= this.pool.use(async (c) => {
      const lsns = Object.values(this.initialState()?.bookmarks ?? {})
        .map((b) => safeLsn(b.lsn))
        .filter((l): l is bigint => l !== undefined);
      const slot = await slotRow(c, this.settings.slot);
      let confirmed = slot.confirmed ? parseLsn(slot.confirmed) : 0n;
      if (lsns.length > 0) {
        const target = lsns.reduce((a, b) => (b < a ? b : a));
        if (target > confirmed) {
          try {
            await c.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [this.settings.slot, formatLsn(target)]);
          } catch (err) {
            throw translateQueryError(err, `confirming ${formatLsn(target)} to replication slot ${this.settings.slot}`);
          }
          confirmed = target;
          await this.watch.advance(c, target);
          this.log.info(`replication slot ${this.settings.slot}: confirmed up to ${formatLsn(target)} (the state this run was given)`);
        }
      }
      await this.restartNear(c, confirmed);
      return confirmed;
    });
    return this.confirmed;
  }

  /**
   * Where the server starts decoding (restart_lsn) after a confirmation. pg_replication_slot_advance keeps
   * one candidate restart point until it is confirmed (LogicalIncreaseRestartDecodingForSlot), so after
   * it restart_lsn is still near the old confirmed position, and the read would decode the whole range the
   * last run emitted again, its changes queued and spilled by the reorder buffer (measured: +173 MB spill
   * for a run with nothing to emit). A second advance to the same, now confirmed, position reads that WAL
   * in fast-forward mode (no changes decoded: 0.5 s for 250 MB of WAL) and moves restart_lsn up to it.
   */
  private async restartNear(c: pg.ClientBase, confirmed: bigint): Promise<void> {
    const { rows } = await c.query<{ restart: string | null }>(
      `SELECT restart_lsn::text AS restart FROM pg_replication_slots WHERE slot_name = $1`,
      [this.settings.slot],
    );
    const restart = rows[0]?.restart ? parseLsn(rows[0].restart) : undefined;
    if (restart === undefined || confirmed - restart < RESTART_LAG) return;
    try {
      await c.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [this.settings.slot, formatLsn(confirmed)]);
    } catch (err) {
      throw translateQueryError(err, `moving replication slot ${this.settings.slot}'s restart point up to ${formatLsn(confirmed)}`);
    }
  }

  /**
   * Where this run stops: the end of the WAL inserted when it started, so that every transaction that
   * committed before the run is in it. Not pg_current_wal_lsn(), the WAL written so far: with
   * asynchronous commit (synchronous_commit = off) the last commits may not be written yet, and a run
   * stopping there left them to the next run (the LOG_BASED retry test missed 1 to 10 of 30,000 changes).
   * Logical decoding reads only flushed WAL, so wait (at most 3 x wal_writer_delay in practice) until it is.
   */
  upto(): Promise<bigint> {
    this.stop ??= this.pool.use(async (c) => {
      const now = (
        await c.query<{ l: string; block: number }>(
          `SELECT pg_current_wal_insert_lsn()::text AS l, current_setting('wal_block_size')::int AS block`,
        )
      ).rows[0]!;
      const end = recordsEnd(parseLsn(now.l), BigInt(now.block));
      for (let i = 0; i < 100; i++) {
        const flushed = parseLsn((await c.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l);
        if (flushed >= end) return end;
        await new Promise((r) => setTimeout(r, 50));
      }
      const flushed = parseLsn((await c.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l);
      this.log.warn(
        `the WAL up to ${formatLsn(end)} was not flushed after 5 s: this run reads up to ${formatLsn(flushed)}, the next run the rest`,
      );
      return flushed;
    });
    return this.stop;
  }

  /**
   * The slot's changes from what the state confirmed up to this run's end, as the server decodes them
   * (wal-stream.ts): one decode, which the change feed shares among the run's streams.
   */
  async *changes(connection: ConnectionSettings, signal: AbortSignal): AsyncGenerator<WalMessage> {
    const confirmed = await this.confirm();
    const upto = await this.upto();
    await this.untilInactive();
    yield* walStream(connection, { slot: this.settings.slot, publication: this.settings.publication, confirmed, upto, signal });
  }

  /**
   * A slot stays active for a moment after the connection that used it ends (a retry after a lost
   * connection): START_REPLICATION would fail with "is active for PID". Waits up to 10 s for it.
   */
  private async untilInactive(): Promise<void> {
    await this.pool.use(async (c) => {
      for (let i = 0; i < 100; i++) {
        if (!(await slotRow(c, this.settings.slot)).active) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  }

  /**
   * Whole compressed batches of the stream's hypertable deleted directly after `from` (up to this run's
   * end): their rows are in no change pgoutput sends. Empty for a stream that is not a compressed hypertable.
   */
  async directBatchDeletes(plan: StreamPlan, from: bigint, relations: RelationMap): Promise<string[]> {
    if (!this.compressed.has(plan.tapStreamId)) return [];
    const upto = await this.upto();
    const all = await this.watch.deletes(
      () => this.pool.acquire(),
      upto,
      (c) => this.pool.release(c as pg.PoolClient),
    );
    return this.watch.forHypertable(all, from, relations, plan.relation.schema, plan.relation.name);
  }

  /** A copy's position is in a bookmark now: the slots this run created are in use. */
  markUsed(): void {
    this.created.length = 0;
  }

  /**
   * A first run that fails before any copy's position reached a bookmark drops the slots it created:
   * they would hold WAL for a position nobody has, and the next run creates them again.
   */
  async dropUnused(): Promise<void> {
    const slots = this.created.splice(0);
    if (slots.length === 0) return;
    await this.pool
      .use(async (c) => {
        for (const slot of slots)
          await c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
      })
      .then(() => this.log.info(`dropped replication slot(s) ${slots.join(', ')}, created by this run before it failed`))
      .catch((err: unknown) =>
        this.log.warn(`could not drop replication slot(s) ${slots.join(', ')} after the failure: ${(err as Error).message}`),
      );
  }

  /** A bookmark older than what the slot was confirmed to: the changes between are gone (exit 4 before any output). */
  private async checkBehindSlot(c: pg.ClientBase, plan: StreamPlan): Promise<void> {
    const from = bookmarkLsn(this.initialState()?.bookmarks[plan.tapStreamId]?.lsn);
    if (from === undefined) return;
    const slot = await slotRow(c, this.settings.slot);
    if (slot.confirmed && from < parseLsn(slot.confirmed)) throw this.behindSlot(plan, from, parseLsn(slot.confirmed));
  }

  behindSlot(plan: StreamPlan, from: bigint, confirmed: bigint): StateError {
    return new StateError(
      `the state's lsn for ${plan.tapStreamId} (${formatLsn(from)}) is older than replication slot ${this.settings.slot}'s confirmed_flush_lsn ${formatLsn(confirmed)}: the changes between are gone. Run with the state the target last confirmed, or remove the stream's bookmark to make a new initial copy`,
    );
  }

  private slotGone(what: string, plan: StreamPlan): ConfigurationError {
    return new ConfigurationError(
      `replication slot ${this.settings.slot} ${what}: the changes since the last run are lost to it. Remove the lsn bookmark of ${plan.tapStreamId} (or the whole state) to make a new initial copy`,
    );
  }

  private async createSlot(c: pg.ClientBase): Promise<void> {
    try {
      const { rows } = await c.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [
        this.settings.slot,
      ]);
      this.log.info(
        `created replication slot ${this.settings.slot} at ${rows[0]!.lsn} (it holds WAL until the tap confirms it: drop it when you stop using LOG_BASED)`,
      );
    } catch (err) {
      if (isPermission(err)) {
        throw new ConfigurationError(
          `the tap's role may not create replication slot ${this.settings.slot}: give it REPLICATION (ALTER ROLE <tap user> REPLICATION) or have a DBA run SELECT pg_create_logical_replication_slot(${quoteLiteral(this.settings.slot)}, 'pgoutput')`,
        );
      }
      throw translateQueryError(err, `creating replication slot ${this.settings.slot}`);
    }
  }

  /**
   * A target applies updates and deletes by the stream's key properties, so each change must carry them:
   * a keyless stream is refused (its changes could only be appended), and so is a key property outside
   * the replica identity (a delete, or the old key of an update, would carry no value for it).
   */
  private async checkReplicaIdentity(c: pg.ClientBase, plan: StreamPlan): Promise<void> {
    const table = qualifiedName(plan.relation.schema, plan.relation.name);
    if (plan.keyProperties.length === 0) {
      throw new ConfigurationError(
        `${plan.tapStreamId} has no key properties, so a target could only append its changes (an update as another row, a delete as a row with _sdc_deleted_at) and never equal the table: add a primary key; or name columns that identify a row in the catalog's table-key-properties metadata and run ALTER TABLE ${table} REPLICA IDENTITY FULL; or read the stream FULL_TABLE (exact through ACTIVATE_VERSION)`,
      );
    }
    const { rows } = await c.query<{ name: string; ident: string; columns: string[] | null }>(
      `SELECT c.oid::regclass::text AS name, c.relreplident AS ident,
              (SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
                WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END) AS columns
         FROM pg_class c
        WHERE c.relkind <> 'p' AND (c.oid = $1 OR c.oid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass)))`,
      [plan.relation.oid],
    );
    for (const r of rows) {
      if (r.ident === 'f') continue;
      const missing = plan.keyProperties.filter((k) => !(r.columns ?? []).includes(k));
      if (missing.length === 0) continue;
      const what =
        r.ident === 'n' ? 'REPLICA IDENTITY NOTHING' : r.columns ? `a replica identity of (${r.columns.join(', ')})` : 'no primary key';
      throw new ConfigurationError(
        `${plan.tapStreamId}: ${r.name} has ${what}, so its deletes and key changes carry no value for key propert${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')} in the WAL: add a primary key on the key properties (${plan.keyProperties.join(', ')}) or run ALTER TABLE ${table} REPLICA IDENTITY FULL`,
      );
    }
  }

  /**
   * TimescaleDB deletes whole compressed batches without decompressing them (on by default): the WAL then
   * holds one row-less delete of the compressed chunk, which pgoutput does not send at all (no replica
   * identity on compressed chunks; verified on 2.28). Those rows would vanish from the target silently,
   * so a compressed hypertable is read LOG_BASED only where such deletes decompress first.
   */
  private async checkDirectBatchDelete(c: pg.ClientBase, plan: StreamPlan): Promise<void> {
    if (!(await c.query<{ ok: boolean }>(`SELECT to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL AS ok`)).rows[0]!.ok) return;
    const { rows } = await c.query<{ compressed: boolean; direct: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable h WHERE h.schema_name = $1 AND h.table_name = $2 AND h.compressed_hypertable_id IS NOT NULL) AS compressed,
              current_setting('timescaledb.enable_compressed_direct_batch_delete', true) AS direct`,
      [plan.relation.schema, plan.relation.name],
    );
    if (rows[0]?.compressed) this.compressed.add(plan.tapStreamId);
    if (rows[0]?.compressed && rows[0].direct !== 'off') {
      const db = (await c.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
      throw new ConfigurationError(
        `${plan.tapStreamId} has compression, and TimescaleDB deletes whole compressed batches without a row in the WAL (timescaledb.enable_compressed_direct_batch_delete is on): such deletes would be lost. Run ALTER DATABASE ${quoteIdent(db)} SET timescaledb.enable_compressed_direct_batch_delete = off (deletes then decompress first and arrive row by row), or read the stream FULL_TABLE`,
      );
    }
  }
}

async function checkWalLevel(c: pg.ClientBase): Promise<void> {
  const level = (await c.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (level !== 'logical') {
    throw new ConfigurationError(
      `LOG_BASED needs wal_level = logical, and the server has ${level}: run ALTER SYSTEM SET wal_level = logical and restart the server, or use FULL_TABLE or INCREMENTAL`,
    );
  }
}

async function slotRow(c: pg.ClientBase, slot: string): Promise<SlotRow> {
  const { rows } = await c.query<SlotRow>(
    `SELECT true AS exists, plugin, confirmed_flush_lsn::text AS confirmed, wal_status, active FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return rows[0] ?? { exists: false, plugin: null, confirmed: null, wal_status: null, active: false };
}

function safeLsn(value: unknown): bigint | undefined {
  try {
    return bookmarkLsn(value);
  } catch {
    return undefined;
  }
}

function isPermission(err: unknown): boolean {
  return (err as { code?: string }).code === '42501';
}

/**
 * Where the records inserted so far end. The insert position points past a page's header (24 bytes, 40
 * at a segment's start) while no record has started on that page: the records then end at the page's
 * start, and an idle server would never flush past its header, so waiting for `insert` would wait 5 s.
 */
export function recordsEnd(insert: bigint, blockSize: bigint): bigint {
  const offset = insert % blockSize;
  return offset > 0n && offset <= 40n ? insert - offset : insert;
}
