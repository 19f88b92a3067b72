import { describe, expect, it } from 'vitest';
import { compareBookmarkValues, singerProblems } from '../helpers/singer-rules.js';

/** The validator other tests rely on must catch each broken rule, or their green means nothing. */
const schema = (extra: Record<string, unknown> = {}) => ({
  type: 'SCHEMA',
  stream: 's',
  key_properties: ['id'],
  bookmark_properties: ['at'],
  schema: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: { type: ['string', 'null'], format: 'date-time' },
      u: { type: ['string', 'null'], format: 'uuid' },
    },
  },
  ...extra,
});
const rec = (id: number, at: string | null, extra: Record<string, unknown> = {}) => ({
  type: 'RECORD',
  stream: 's',
  record: { id, at, ...extra },
});
const state = (bookmark: Record<string, unknown>) => ({ type: 'STATE', value: { bookmarks: { s: bookmark }, currently_syncing: 's' } });
const out = (...messages: unknown[]) => messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n') + '\n';

describe('singer-rules', () => {
  it('accepts a well-formed INCREMENTAL run with rows sharing the bookmark value', () => {
    const text = out(
      schema(),
      state({}),
      rec(1, null),
      rec(2, '2024-01-01T00:00:00Z'),
      state({ replication_key: 'at', replication_key_value: '2024-01-01T00:00:00Z' }),
      rec(3, '2024-01-01T00:00:00Z'),
      rec(4, '2024-01-01T00:00:00.5Z'),
      state({ replication_key: 'at', replication_key_value: '2024-01-01T00:00:00.5Z' }),
    );
    expect(singerProblems(text, { complete: true })).toEqual([]);
  });

  it('catches each broken rule', () => {
    const cases: [string, string, RegExp][] = [
      ['not JSON', out(schema(), 'garbage'), /not JSON/],
      ['not an object', out(schema(), '[1]'), /not a JSON object/],
      ['record before schema', out(rec(1, null)), /before its SCHEMA/],
      ['no key_properties', out(schema({ key_properties: undefined })), /no key_properties/],
      ['no bookmark_properties', out(schema({ bookmark_properties: undefined })), /no bookmark_properties/],
      ['record against schema', out(schema(), rec(1, 'yesterday')), /must match format "date-time"/],
      ['uuid format', out(schema(), rec(1, null, { u: 'not-a-uuid' })), /must match format "uuid"/],
      ['state without bookmarks', out(schema(), { type: 'STATE', value: { currently_syncing: null } }), /no bookmarks/],
      [
        'row before the bookmark after a STATE',
        out(
          schema(),
          rec(2, '2024-01-02T00:00:00Z'),
          state({ replication_key_value: '2024-01-02T00:00:00Z' }),
          rec(1, '2024-01-01T23:59:59.999999Z'),
        ),
        /a resumed run would lose it/,
      ],
      [
        'NULL key after a bookmark',
        out(
          schema(),
          rec(2, '2024-01-02T00:00:00Z'),
          state({ replication_key_value: '2024-01-02T00:00:00Z' }),
          rec(1, null),
          rec(3, '2024-01-03T00:00:00Z'),
        ),
        /after a NULL one/,
      ],
      [
        'bookmark ahead of the rows emitted',
        out(schema(), state({}), rec(2, '2024-01-02T00:00:00Z'), state({ replication_key_value: '2024-01-03T00:00:00Z' })),
        /not the key of the last record/,
      ],
      ['pk not after last_pk_fetched', out(schema(), state({ last_pk_fetched: { id: 5 } }), rec(5, null)), /last_pk_fetched/],
      [
        'record of another version',
        out(schema(), { type: 'ACTIVATE_VERSION', stream: 's', version: 1 }, rec(1, null, {}), { ...rec(2, null), version: 2 }),
        /version 2/,
      ],
      [
        'version never closed',
        out(schema(), { type: 'ACTIVATE_VERSION', stream: 's', version: 1 }, { ...rec(1, null), version: 1 }),
        /no ACTIVATE_VERSION 1 after/,
      ],
      ['torn last line', out(schema()) + '{"type":"REC', /not JSON|complete line/],
    ];
    for (const [what, text, problem] of cases) {
      expect(singerProblems(text, { complete: true }).join('\n'), what).toMatch(problem);
    }
  });

  it('a last_pk_fetched that the tap would not resume after (no key, or a key property missing) binds no row', () => {
    // the tap resumes after last_pk_fetched only when it names every key property; otherwise it reads from the start
    const keyless = schema({ key_properties: [] });
    expect(singerProblems(out(keyless, state({ last_pk_fetched: {} }), rec(1, null), rec(2, null)))).toEqual([]);
    expect(singerProblems(out(keyless, state({ last_pk_fetched: { id: 5 } }), rec(1, null)))).toEqual([]);
    expect(singerProblems(out(schema(), state({ last_pk_fetched: { other: 5 } }), rec(1, null)))).toEqual([]);
    expect(singerProblems(out(schema(), state({ last_pk_fetched: { id: 5, other: 1 } }), rec(5, null))).join('\n')).toMatch(
      /last_pk_fetched/,
    );
  });

  it('orders bookmark values as the database does: integers past 2^53, microseconds, dates', () => {
    expect(compareBookmarkValues('9007199254740993', '9007199254740992')).toBe(1);
    expect(compareBookmarkValues(9007199254740992, '9007199254740993')).toBe(-1);
    expect(compareBookmarkValues('2024-01-01T00:00:00.5Z', '2024-01-01T00:00:00Z')).toBe(1);
    expect(compareBookmarkValues('2024-01-01T00:00:00.000001Z', '2024-01-01T00:00:00.5Z')).toBe(-1);
    expect(compareBookmarkValues('2024-01-02', '2024-01-01T23:59:59Z')).toBe(1);
    expect(compareBookmarkValues(1.5, 1.25)).toBeGreaterThan(0);
  });
});
