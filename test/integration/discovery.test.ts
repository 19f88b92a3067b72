import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedDatabase, nativeDatabase, type TestDatabase } from '../helpers/databases.js';
import { discover, streamEntry, tmpJson } from '../helpers/run-tap.js';
import { columnMetadata, streamMetadata } from '../../src/core/singer/catalog.js';

const SCHEMA_SQL = `
  CREATE SCHEMA app;
  CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
  CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL, mood app.mood, created_at timestamptz, payload jsonb);
  CREATE TABLE app.order_lines (order_id int, line int, qty numeric(10,2), PRIMARY KEY (order_id, line));
  CREATE TABLE app.no_key (a int, b text);
  CREATE VIEW app.active_users AS SELECT id, email FROM app.users;
  CREATE MATERIALIZED VIEW app.user_counts AS SELECT mood, count(*) AS n FROM app.users GROUP BY mood;
  CREATE TABLE app.events (id int, at date NOT NULL, v text) PARTITION BY RANGE (at);
  CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
`;

function checkCatalog(catalog: Awaited<ReturnType<typeof discover>>, database: string) {
  const ids = catalog.streams.map((s) => s.tap_stream_id).sort();
  expect(ids).toEqual(['app-active_users', 'app-events', 'app-no_key', 'app-order_lines', 'app-user_counts', 'app-users']);

  const users = streamEntry(catalog, 'app-users');
  const md = streamMetadata(users);
  expect(md['table-key-properties']).toEqual(['id']);
  expect(md['schema-name']).toBe('app');
  expect(md['database-name']).toBe(database);
  expect(md['is-view']).toBe(false);
  expect(md['valid-replication-keys']).toEqual(['created_at', 'id', 'email']);
  expect(users.key_properties).toEqual(['id']);
  expect(columnMetadata(users, 'id')).toMatchObject({ inclusion: 'automatic', 'sql-datatype': 'bigint' });
  expect(columnMetadata(users, 'email')).toMatchObject({ inclusion: 'available', 'sql-datatype': 'text' });
  expect(users.schema.properties.mood).toEqual({ type: ['string', 'null'], enum: ['sad', 'ok', 'happy', null] });
  expect(users.schema.properties.email).toEqual({ type: 'string' });

  expect(streamMetadata(streamEntry(catalog, 'app-order_lines'))['table-key-properties']).toEqual(['order_id', 'line']);
  const view = streamMetadata(streamEntry(catalog, 'app-active_users'));
  expect(view['is-view']).toBe(true);
  expect(view['table-key-properties']).toEqual([]);
  expect(streamMetadata(streamEntry(catalog, 'app-user_counts'))['is-view']).toBe(true);
  // a partitioned table is one stream; its leaf partitions are not streams
  expect(streamEntry(catalog, 'app-events').schema.properties.at).toEqual({ type: 'string', format: 'date' });
}

describe('discovery from pg_catalog', () => {
  describe('on the native server', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await nativeDatabase();
      await db.sql(SCHEMA_SQL);
    });
    afterAll(async () => db?.close());

    it('lists tables, views, materialized views and partitioned parents with Singer metadata', async () => {
      const database = db.url.split('/').pop()!;
      checkCatalog(await discover(tmpJson({ url: db.url })), database);
    });

    it('filter_schemas limits discovery to the listed schemas', async () => {
      await db.sql('CREATE TABLE public.elsewhere (id int)');
      const all = await discover(tmpJson({ url: db.url }));
      expect(all.streams.map((s) => s.tap_stream_id)).toContain('public-elsewhere');
      const only = await discover(tmpJson({ url: db.url, filter_schemas: ['public'] }));
      expect(only.streams.map((s) => s.tap_stream_id)).toEqual(['public-elsewhere']);
    });

    it('discovers 2,000 tables with a constant number of queries', async () => {
      await db.sql(`CREATE SCHEMA many`);
      await db.sql(`DO $$ BEGIN FOR i IN 1..2000 LOOP
        EXECUTE format('CREATE TABLE many.t%s (id int PRIMARY KEY, v text, at timestamptz)', i); END LOOP; END $$`);
      const started = Date.now();
      const catalog = await discover(tmpJson({ url: db.url, filter_schemas: ['many'] }));
      const seconds = (Date.now() - started) / 1000;
      expect(catalog.streams).toHaveLength(2000);
      expect(streamMetadata(streamEntry(catalog, 'many-t1999'))['table-key-properties']).toEqual(['id']);
      // reported, not asserted: speed belongs to the benchmark
      console.info(`discovery of 2,000 tables: ${seconds.toFixed(2)} s (process start included)`);
    });
  });

  describe('on the embedded TimescaleDB', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await embeddedDatabase();
      await db.sql(SCHEMA_SQL);
    });
    afterAll(async () => db?.close());

    it('gives the same catalog for the same schema', async () => {
      // PGlite answers current_database() with its own name (template1): the metadata must say what the server says
      const [{ name }] = await db.sql<{ name: string }>('SELECT current_database() AS name');
      checkCatalog(await discover(tmpJson({ url: db.url, filter_schemas: ['app'] })), name);
    });
  });
});
