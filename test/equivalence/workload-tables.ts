import type { Feature } from './features.js';

/** How the generator fills a column: the SQL expression of `valueSql` for that kind. */
export type ValueKind = 'int' | 'numeric' | 'text' | 'bigtext' | 'time' | 'json' | 'bool';

/** A non-key column (keys are fixed; DDL adds, drops, renames and retypes these). */
export interface ColumnModel {
  name: string;
  kind: ValueKind;
}

/** What the generator knows of a source table: its key, its (changing) columns, where inserts continue. */
export interface TableModel {
  readonly name: string;
  readonly shape: 'plain' | 'partitioned' | 'hypertable' | 'space-hypertable' | 'keyless-hypertable';
  /** the key columns' SQL for the g-th row of an insert (`g` is the series variable) */
  readonly keySql: Record<string, string>;
  /** a text expression of a row's key, hashed to pick rows */
  readonly keyText: string;
  columns: ColumnModel[];
  readonly compressed: boolean;
  /** segmentby column of a compressed hypertable (whole segments are what a batch delete removes) */
  readonly segmentBy?: string;
  /** the compression policy's job id, once added */
  policyJob?: number;
  /** the next g an insert starts from */
  nextRow: number;
}

export const DAY0 = `'2024-01-01 00:00:00+00'::timestamptz`;

/**
 * The source tables: a plain table with every value kind (TOASTed text included), a range-partitioned
 * table, a time-only and a space-partitioned hypertable (both compressed, the first with a compression
 * policy), and, for the features that need it, a keyless compressed hypertable with REPLICA IDENTITY FULL.
 */
export function tableModels(features: readonly Feature[]): TableModel[] {
  const tables: TableModel[] = [
    {
      name: 'accounts',
      shape: 'plain',
      keySql: { id: 'g' },
      keyText: 'id::text',
      columns: [
        { name: 'name', kind: 'text' },
        { name: 'amount', kind: 'numeric' },
        { name: 'seen', kind: 'time' },
        { name: 'doc', kind: 'json' },
        { name: 'active', kind: 'bool' },
        { name: 'score', kind: 'int' },
        { name: 'big', kind: 'bigtext' },
      ],
      compressed: false,
      nextRow: 1,
    },
    {
      name: 'orders',
      shape: 'partitioned',
      keySql: { region: 'g % 30', id: 'g' },
      keyText: `region || '/' || id`,
      columns: [
        { name: 'amount', kind: 'numeric' },
        { name: 'note', kind: 'text' },
        { name: 'placed', kind: 'time' },
      ],
      compressed: false,
      nextRow: 1,
    },
    {
      name: 'readings',
      shape: 'hypertable',
      keySql: { ts: `${DAY0} + (g / 4) * interval '10 minutes'`, sensor: 'g % 4' },
      keyText: `extract(epoch FROM ts)::text || '/' || sensor`,
      columns: [
        { name: 'value', kind: 'numeric' },
        { name: 'status', kind: 'text' },
      ],
      compressed: true,
      segmentBy: 'sensor',
      nextRow: 0,
    },
    {
      name: 'metrics',
      shape: 'space-hypertable',
      keySql: { ts: `${DAY0} + (g / 3) * interval '15 minutes'`, device: 'g % 3 + 1' },
      keyText: `extract(epoch FROM ts)::text || '/' || device`,
      columns: [
        { name: 'v', kind: 'numeric' },
        { name: 'tags', kind: 'json' },
        { name: 'ok', kind: 'bool' },
      ],
      compressed: true,
      segmentBy: 'device',
      nextRow: 0,
    },
  ];
  if (features.includes('keyless') || features.includes('direct-compress-insert')) {
    tables.push({
      name: 'events',
      shape: 'keyless-hypertable',
      keySql: { ts: `${DAY0} + (g / 2) * interval '20 minutes'`, device: 'g % 2' },
      keyText: `extract(epoch FROM ts)::text || '/' || device || '/' || coalesce(v::text, '')`,
      columns: [{ name: 'v', kind: 'numeric' }],
      compressed: true,
      segmentBy: 'device',
      nextRow: 0,
    });
  }
  return tables;
}

/** CREATE statements for the tables (before their first rows). */
export function createTableSql(t: TableModel): string {
  const cols = t.columns.map((c) => `${c.name} ${SQL_TYPE[c.kind]}`).join(', ');
  switch (t.shape) {
    case 'plain':
      return `CREATE TABLE ${t.name} (id int PRIMARY KEY, ${cols})`;
    case 'partitioned':
      return `CREATE TABLE ${t.name} (region int NOT NULL, id int NOT NULL, ${cols}, PRIMARY KEY (region, id)) PARTITION BY RANGE (region);
        CREATE TABLE ${t.name}_low PARTITION OF ${t.name} FOR VALUES FROM (0) TO (10);
        CREATE TABLE ${t.name}_mid PARTITION OF ${t.name} FOR VALUES FROM (10) TO (20);
        CREATE TABLE ${t.name}_high PARTITION OF ${t.name} FOR VALUES FROM (20) TO (30)`;
    case 'hypertable':
      return `CREATE TABLE ${t.name} (ts timestamptz NOT NULL, sensor int NOT NULL, ${cols}, PRIMARY KEY (ts, sensor));
        SELECT create_hypertable('${t.name}', by_range('ts', interval '1 day'));
        ALTER TABLE ${t.name} SET (timescaledb.compress, timescaledb.compress_segmentby = 'sensor', timescaledb.compress_orderby = 'ts')`;
    case 'space-hypertable':
      return `CREATE TABLE ${t.name} (ts timestamptz NOT NULL, device int NOT NULL, ${cols}, PRIMARY KEY (device, ts));
        SELECT create_hypertable('${t.name}', by_range('ts', interval '1 day'));
        SELECT add_dimension('${t.name}', by_hash('device', 2));
        ALTER TABLE ${t.name} SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'ts')`;
    case 'keyless-hypertable':
      return `CREATE TABLE ${t.name} (ts timestamptz NOT NULL, device int NOT NULL, ${cols});
        SELECT create_hypertable('${t.name}', by_range('ts', interval '1 day'));
        ALTER TABLE ${t.name} SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'ts');
        ALTER TABLE ${t.name} REPLICA IDENTITY FULL`;
  }
}

export const SQL_TYPE: Record<ValueKind, string> = {
  int: 'int',
  numeric: 'numeric(12,3)',
  text: 'text',
  bigtext: 'text',
  time: 'timestamptz',
  json: 'jsonb',
  bool: 'boolean',
};

/**
 * A deterministic value of `kind` for the integer SQL expression `h` (a row number or a hash of the key)
 * and the step's salt `s`; about one value in eleven is NULL. Big text is 9,600 characters of md5 hex,
 * which pglz cannot shrink below the TOAST threshold, so it is stored out of line.
 */
export function valueSql(kind: ValueKind, h: string, s: number): string {
  const v = {
    int: `((${h}) * 31 + ${s}) % 100000`,
    numeric: `(((${h}) * 7919 + ${s}) % 1000000) / 1000.0`,
    text: `'t${s}-' || (${h})`,
    bigtext: `CASE WHEN ((${h}) + ${s}) % 3 = 0 THEN (SELECT string_agg(md5((${h})::text || '/${s}/' || i), '') FROM generate_series(1, 300) i) ELSE 'short ${s} ' || (${h}) END`,
    time: `${DAY0} + (((${h}) * 7919 + ${s}) % 100000000) * interval '1 millisecond' + ((${h}) % 1000) * interval '1 microsecond'`,
    json: `jsonb_build_object('h', (${h}), 's', ${s}, 'tag', 'é' || ((${h}) % 7), 'list', jsonb_build_array((${h}) % 3, (${h}) % 2 = 0, NULL, 'x'))`,
    bool: `((${h}) + ${s}) % 2 = 0`,
  }[kind];
  return `CASE WHEN ((${h}) + ${s}) % 11 = 5 THEN NULL ELSE ${v} END`;
}

/** An INSERT of rows g = from … to (keys from the table's key expressions, `keyShift` added to a time key; values from valueSql). */
export function insertSql(t: TableModel, from: number, to: number, salt: number, keyShift = ''): string {
  const cols = [...Object.keys(t.keySql), ...t.columns.map((c) => c.name)];
  const keys = Object.entries(t.keySql).map(([k, v]) => (k === 'ts' ? v + keyShift : v));
  const values = [...keys, ...t.columns.map((c) => valueSql(c.kind, 'g', salt))];
  return `INSERT INTO ${t.name} (${cols.join(', ')}) SELECT ${values.join(', ')} FROM generate_series(${from}, ${to}) g`;
}

/** A predicate that picks about one row in `m` by a hash of its key. */
export function rowsPicked(t: TableModel, m: number, r: number): string {
  return `abs(hashtext(${t.keyText})) % ${m} = ${r % m}`;
}

/** An integer expression per row, to derive new values from in an UPDATE. */
export function rowHash(t: TableModel): string {
  return `(abs(hashtext(${t.keyText})) % 100000)`;
}
