import { ConfigurationError, PluginError, StateError } from '../errors.js';
import { computedColumn } from '../readers/query-shape.js';
import type { PlannedColumn, StreamPlan } from '../readers/stream-plan.js';
import type { StreamBookmark } from '../singer/messages.js';
import type { RecordShape, RecordTransform } from './record-transform.js';

/** Which streams a record transform applies to (decided once per stream, before any output). */
export type RecordClaim = (plan: StreamPlan) => boolean;

/** A transform that applies to one stream, with the plugin that registered it and its SCHEMA changes. */
export interface ClaimedTransform {
  readonly owner: string;
  readonly transform: RecordTransform;
  readonly shape: RecordShape;
}

/** A change `skip_changes` names: the commit LSN of its transaction and its ordinal in it. */
export interface SkipPosition {
  readonly tx: number;
  readonly n: number;
}

const POSITION = /^(\d+):([1-9]\d*)$/;

/** `skip_changes` as the config gives it: tap_stream_id -> `<tx>:<tx_changes>` (checked by the config schema). */
export function skipChangesFrom(raw: Record<string, unknown>): ReadonlyMap<string, SkipPosition> {
  const out = new Map<string, SkipPosition>();
  for (const [id, value] of Object.entries((raw.skip_changes as Record<string, string> | undefined) ?? {})) {
    const m = POSITION.exec(value);
    if (!m)
      throw new ConfigurationError(
        `invalid config: skip_changes.${id} is "${value}": give the position the CRITICAL line printed, <tx>:<tx_changes> (e.g. "23456789:3")`,
      );
    out.set(id, { tx: Number(m[1]), n: Number(m[2]) });
  }
  return out;
}

/**
 * The record transforms plugins registered (`ctx.records.transform`), in load order, and the changes
 * `skip_changes` names. The per-stream output (transformed-output.ts) applies them.
 */
export class RecordTransforms {
  private readonly all: { claims: RecordClaim; transform: RecordTransform; owner: string }[] = [];

  constructor(readonly skips: ReadonlyMap<string, SkipPosition> = new Map()) {}

  add(claims: RecordClaim, transform: RecordTransform, owner: string): void {
    this.all.push({ claims, transform, owner });
  }

  /** The transforms of a stream, in load order (each sees what the one before it left). */
  forPlan(plan: StreamPlan): ClaimedTransform[] {
    return this.all
      .filter((t) => t.claims(plan))
      .map((t) => ({ owner: t.owner, transform: t.transform, shape: t.transform.shape?.(plan) ?? {} }));
  }

  /** The plan with `recordMeta` set where a transform or a skip applies: readers of changes then attach per-row metadata. */
  annotate(plan: StreamPlan): StreamPlan {
    const wanted = this.skips.has(plan.tapStreamId) || this.all.some((t) => t.claims(plan));
    return wanted ? { ...plan, recordMeta: true } : plan;
  }

  /**
   * Before any output: every transform's SCHEMA changes name columns of the stream and keep its keys, and
   * a skip names a LOG_BASED stream whose bookmark has not passed that change.
   */
  check(plans: readonly StreamPlan[], bookmarks: Readonly<Record<string, StreamBookmark | undefined>>): void {
    for (const plan of plans) {
      for (const t of this.forPlan(plan)) {
        const names = [...(t.shape.drop ?? []), ...Object.keys(t.shape.retype ?? {})];
        const missing = names.filter((n) => !plan.columns.some((c) => c.name === n));
        if (missing.length > 0)
          throw new PluginError(
            `plugin ${t.owner}: its record transform of ${plan.tapStreamId} names ${missing.join(', ')}, not a selected column of the stream: fix its shape()`,
          );
        const keys = (t.shape.drop ?? []).filter((n) => plan.keyProperties.includes(n) || n === plan.replicationKey);
        if (keys.length > 0)
          throw new PluginError(
            `plugin ${t.owner}: its record transform drops ${keys.join(', ')} of ${plan.tapStreamId}, a key or replication key the target needs: mask the value instead (retype it)`,
          );
      }
    }
    for (const [id, at] of this.skips) {
      const plan = plans.find((p) => p.tapStreamId === id);
      if (!plan || plan.method !== 'LOG_BASED')
        throw new ConfigurationError(
          `skip_changes names ${id}, ${plan ? `a ${plan.method} stream: only a LOG_BASED stream's changes can be skipped` : 'no selected stream'}: remove it`,
        );
      const b = bookmarks[id] ?? {};
      const lsn = walPosition(b.lsn);
      const past = (lsn !== undefined && at.tx < lsn) || (Number(b.tx) === at.tx && Number(b.tx_changes ?? 0) >= at.n);
      if (past)
        throw new StateError(
          `skip_changes.${id} is ${at.tx}:${at.n}, but the state's bookmark (lsn ${String(b.lsn)}${b.tx !== undefined ? `, tx ${String(b.tx)}:${String(b.tx_changes)}` : ''}) is past that change already: remove skip_changes.${id}`,
        );
    }
  }
}

/** The plan a stream's records are described with after its transforms: dropped columns left out, retyped ones retyped. */
export function describedPlan(plan: StreamPlan, transforms: readonly ClaimedTransform[]): StreamPlan {
  const dropped = new Set(transforms.flatMap((t) => t.shape.drop ?? []));
  const retype = Object.assign({}, ...transforms.map((t) => t.shape.retype ?? {})) as Record<string, PlannedColumn['codec']['kind']>;
  if (dropped.size === 0 && Object.keys(retype).length === 0) return plan;
  const columns = plan.columns
    .filter((c) => !dropped.has(c.name))
    .map((c) => (retype[c.name] ? computedColumn({ name: c.name, sql: c.name, kind: retype[c.name] }) : c));
  const properties = Object.fromEntries(
    columns.map((c) => [c.name, retype[c.name] ? c.codec.schema : (plan.entry.schema.properties[c.name] ?? c.codec.schema)]),
  );
  return { ...plan, columns, entry: { ...plan.entry, schema: { ...plan.entry.schema, properties } } };
}

/** A bookmark's WAL position (an integer, or X/Y from a hand-written state). */
function walPosition(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const xy = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(value);
  return xy ? parseInt(xy[1]!, 16) * 2 ** 32 + parseInt(xy[2]!, 16) : Number(value);
}
