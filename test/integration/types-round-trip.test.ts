import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeDatabase, nativeSkipReason, type TestDatabase } from '../helpers/databases.js';
import { discover, runTap, select, streamEntry, tmpJson } from '../helpers/run-tap.js';
import { singerProblems } from '../helpers/singer-rules.js';
import { createTypesTable, expectedRecordFields, rawRecordFields, type TypeCase } from '../helpers/type-fixtures.js';
import type { Catalog } from '../../src/core/singer/catalog.js';

/**
 * Every type of the Types table in docs/hypertables.md, value in and exact JSON text out, through the CLI with both
 * decoders (the fast COPY-text transcoder and csv-parse), on both engines. Protects the promises a
 * target relies on: bigint and numeric digit for digit, NaN/Infinity/BC as null, times in UTC, JSON as
 * JSON, and a SCHEMA every record validates against.
 */
function roundTrip(engine: string, open: () => Promise<TestDatabase>): void {
  describe(`every type round-trips on the ${engine} engine`, () => {
    let db: TestDatabase;
    let cases: TypeCase[];
    let catalog: Catalog;
    beforeAll(async () => {
      db = await open();
      cases = await createTypesTable(db, 'types_rt');
      catalog = await discover(tmpJson({ url: db.url }));
    });
    afterAll(async () => db?.close());

    it('discovers each column with the JSON Schema docs/hypertables.md documents', () => {
      const props = streamEntry(catalog, 'public-types_rt').schema.properties;
      expect(props.id).toEqual({ type: 'integer' });
      expect(Object.fromEntries(cases.map((c) => [c.column, props[c.column]]))).toEqual(
        Object.fromEntries(cases.map((c) => [c.column, c.schema])),
      );
    });

    for (const decoder of ['auto', 'csv'] as const) {
      it(`writes the exact JSON of every value with decoder ${decoder}, and every record matches its SCHEMA`, async () => {
        const config = tmpJson({ url: db.url, decoder });
        const run = await runTap(['--config', config, '--catalog', tmpJson(select(catalog, { 'public-types_rt': {} }))], {
          env: { TAP_LOG_LEVEL: 'debug' },
        });
        expect(run.code, run.stderr).toBe(0);
        expect(singerProblems(run.stdout, { complete: true })).toEqual([]);
        const schema = run.messages.find((m) => m.type === 'SCHEMA')!;
        expect(schema.schema.properties).toEqual(streamEntry(catalog, 'public-types_rt').schema.properties);
        expect(schema.key_properties).toEqual(['id']);
        const lines = run.stdout.split('\n').filter((l) => l.startsWith('{"type":"RECORD"'));
        expect(lines).toHaveLength(3);
        for (const id of [1, 2, 3] as const) {
          expect(rawRecordFields(lines[id - 1]!), `row ${id}`).toEqual(expectedRecordFields(cases, id));
        }
      });
    }
  });
}

describe.skipIf(nativeSkipReason !== undefined)('native PostgreSQL', () => roundTrip('native', nativeDatabase));
roundTrip('embedded TimescaleDB', embeddedDatabase);
