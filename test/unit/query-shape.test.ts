import { describe, expect, it } from 'vitest';
import { computedColumn, shapePlan, shapedWhere } from '../../src/core/readers/query-shape.js';
import type { StreamPlan } from '../../src/core/readers/stream-plan.js';
import { codecFor } from '../../src/core/postgres/type-mapping.js';

/** The shaping point every reader goes through: predicates ANDed in order, columns added or replaced. */
const int4 = { sqlType: 'integer', typname: 'int4', typtype: 'b', typcategory: 'N', ndims: 0 };
const text = { sqlType: 'text', typname: 'text', typtype: 'b', typcategory: 'S', ndims: 0 };
const plan = {
  tapStreamId: 'public-t',
  stream: 'public-t',
  columns: [
    { name: 'id', type: int4, codec: codecFor(int4, false) },
    { name: 'secret', type: text, codec: codecFor(text, true) },
  ],
  entry: { schema: { type: 'object', properties: { id: { type: 'integer' }, secret: { type: ['string', 'null'] } } } },
} as unknown as StreamPlan; // only the fields shaping reads

describe('query shaping', () => {
  it('leaves a reader’s WHERE as it is when no plugin shaped the plan', () => {
    expect(shapedWhere(plan, undefined)).toBeUndefined();
    expect(shapedWhere(plan, '"id" > 3')).toBe('"id" > 3');
  });

  it('ANDs the reader’s condition and every plugin’s predicate, each in parentheses, in order', () => {
    const shaped = shapePlan(shapePlan(plan, { where: ['a OR b'] }), { where: ['c'] });
    expect(shaped.filters).toEqual(['a OR b', 'c']);
    expect(shapedWhere(shaped, 'x = 1 OR y = 2')).toBe('(x = 1 OR y = 2) AND (a OR b) AND (c)');
    expect(shapedWhere(shaped, undefined)).toBe('(a OR b) AND (c)');
    expect(plan.filters).toBeUndefined(); // the plan given is not changed
  });

  it('replaces a column in place and adds new ones at the end, in the columns and the SCHEMA', () => {
    const shaped = shapePlan(plan, {
      columns: [
        { name: 'secret', sql: 'md5("secret")' },
        { name: 'twice', sql: '"id" * 2', kind: 'integer', schema: { type: 'integer' } },
      ],
    });
    expect(shaped.columns.map((c) => c.name)).toEqual(['id', 'secret', 'twice']);
    expect(shaped.columns.map((c) => c.codec.selectExpr(c.name))).toEqual(['"id"', '(md5("secret"))', '("id" * 2)']);
    expect(shaped.columns.map((c) => c.computed ?? false)).toEqual([false, true, true]);
    expect(shaped.entry.schema.properties).toEqual({
      id: { type: 'integer' },
      secret: { type: ['string', 'null'] },
      twice: { type: 'integer' },
    });
  });

  it('types a computed column from its kind when no schema or SQL type is given', () => {
    const c = computedColumn({ name: 'at', sql: 'now()', kind: 'timestamptz' });
    expect(c.codec.kind).toBe('timestamptz');
    expect(c.codec.schema).toEqual({ type: ['string', 'null'], format: 'date-time' });
    expect(c.type.sqlType).toBe('timestamptz');
  });
});
