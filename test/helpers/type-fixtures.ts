import type { TestDatabase } from './databases.js';

/**
 * One table with a column per PostgreSQL type the Types table of docs/hypertables.md names, built the same way on
 * every engine. Each case holds the SQL literal of rows 1 and 2 (row 3 is all NULL), the exact JSON
 * text the tap must write for each (compared byte for byte: bigint and numeric past a double's
 * precision must come out digit for digit), and the JSON Schema docs/hypertables.md documents for it.
 */
export interface TypeCase {
  readonly column: string;
  readonly sqlType: string;
  /** SQL expressions for rows 1 and 2 (NULL allowed) */
  readonly rows: readonly [string, string];
  /** the JSON text of each row's value in the RECORD line */
  readonly json: readonly [string, string];
  /** the property's schema in SCHEMA (the column is nullable) */
  readonly schema: Record<string, unknown>;
}

const n = (type: string | string[], extra: Record<string, unknown> = {}) => ({
  type: Array.isArray(type) ? type : [type, 'null'],
  ...extra,
});
const str = (s: string) => JSON.stringify(s);
const ANY_JSON = ['object', 'array', 'string', 'number', 'boolean', 'null'];
const TEXT = 'tab\there\nnew line\r\\back "quote" ünïcödé 😀 \u0001';

export const TYPE_CASES: readonly TypeCase[] = [
  { column: 'c_int2', sqlType: 'smallint', rows: ['32767', '-32768'], json: ['32767', '-32768'], schema: n('integer') },
  { column: 'c_int4', sqlType: 'integer', rows: ['2147483647', '-2147483648'], json: ['2147483647', '-2147483648'], schema: n('integer') },
  // past 2^53: a double would print 9223372036854775807 as 9223372036854776000
  {
    column: 'c_int8',
    sqlType: 'bigint',
    rows: ['9223372036854775807', '-9007199254740993'],
    json: ['9223372036854775807', '-9007199254740993'],
    schema: n('integer'),
  },
  {
    column: 'c_numeric',
    sqlType: 'numeric',
    rows: ["'12345678901234567890.123456789012345678901234567890'", "'1e-20'"],
    json: ['12345678901234567890.123456789012345678901234567890', '0.00000000000000000001'],
    schema: n('number'),
  },
  {
    column: 'c_numeric_huge',
    sqlType: 'numeric',
    rows: ["'1e100'", "'-Infinity'"],
    json: ['1' + '0'.repeat(100), 'null'],
    schema: n('number'),
  },
  { column: 'c_numeric_nan', sqlType: 'numeric', rows: ["'NaN'", "'Infinity'"], json: ['null', 'null'], schema: n('number') },
  { column: 'c_numeric_scaled', sqlType: 'numeric(10,2)', rows: ['1.5', '-0.01'], json: ['1.50', '-0.01'], schema: n('number') },
  { column: 'c_float4', sqlType: 'real', rows: ['0.1', "'-Infinity'"], json: ['0.1', 'null'], schema: n('number') },
  { column: 'c_float8', sqlType: 'double precision', rows: ['0.1', "'Infinity'"], json: ['0.1', 'null'], schema: n('number') },
  { column: 'c_float8_edge', sqlType: 'double precision', rows: ["'NaN'", '1e-300'], json: ['null', '1e-300'], schema: n('number') },
  { column: 'c_bool', sqlType: 'boolean', rows: ['true', 'false'], json: ['true', 'false'], schema: n('boolean') },
  {
    column: 'c_text',
    sqlType: 'text',
    rows: [
      `E'${TEXT.replace(/[\\']/g, (c) => '\\' + c)
        .replace(/\t/g, '\\t')
        .replace(/\n/g, '\\n')
        .replace(/\r/g, '\\r')
        // eslint-disable-next-line no-control-regex -- \x01 is part of the hostile text under test
        .replace(/\u0001/g, '\\x01')}'`,
      "''",
    ],
    json: [str(TEXT), '""'],
    schema: n('string'),
  },
  { column: 'c_varchar', sqlType: 'varchar(20)', rows: ["'hello'", "'it''s'"], json: ['"hello"', `"it's"`], schema: n('string') },
  { column: 'c_char', sqlType: 'char(5)', rows: ["'ab'", "'abcde'"], json: ['"ab   "', '"abcde"'], schema: n('string') },
  { column: 'c_name', sqlType: 'name', rows: ["'pg_class'", '\'Ünï "q"\''], json: ['"pg_class"', str('Ünï "q"')], schema: n('string') },
  {
    column: 'c_uuid',
    sqlType: 'uuid',
    rows: ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'00000000-0000-0000-0000-000000000000'"],
    json: ['"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"', '"00000000-0000-0000-0000-000000000000"'],
    schema: n('string', { format: 'uuid' }),
  },
  // json keeps its text (newlines become spaces); jsonb is PostgreSQL's normal form
  {
    column: 'c_json',
    sqlType: 'json',
    rows: [`'{"a": [1, 2, {"b": "x\\"y\\\\z\\nw"}], "u": "ü"}'`, `E'{\\n  "k": true,\\n\\t"n": null\\n}'`],
    json: ['{"a": [1, 2, {"b": "x\\"y\\\\z\\nw"}], "u": "ü"}', '{   "k": true,  "n": null }'],
    schema: { type: ANY_JSON },
  },
  {
    column: 'c_jsonb',
    sqlType: 'jsonb',
    rows: [`'{"nested": {"deep": [1, "tab\\there"]}, "a": "q\\"uote"}'`, `'"just a \\\\ string"'`],
    json: ['{"a": "q\\"uote", "nested": {"deep": [1, "tab\\there"]}}', '"just a \\\\ string"'],
    schema: { type: ANY_JSON },
  },
  {
    column: 'c_int_arr',
    sqlType: 'integer[]',
    rows: ["'{1,2,NULL,4}'", "'{}'"],
    json: ['[1,2,null,4]', '[]'],
    schema: n('array', { items: n('integer') }),
  },
  {
    column: 'c_text_arr',
    sqlType: 'text[]',
    rows: [`ARRAY['a"b', NULL, 'c,d', E'back\\\\slash', '', 'ü']`, "'{}'"],
    json: ['["a\\"b",null,"c,d","back\\\\slash","","ü"]', '[]'],
    schema: n('array', { items: n('string') }),
  },
  {
    column: 'c_int_2d',
    sqlType: 'integer[][]',
    rows: ["'{{1,2},{3,4}}'", "'{{NULL,5}}'"],
    json: ['[[1,2],[3,4]]', '[[null,5]]'],
    schema: n('array', { items: {} }),
  },
  {
    column: 'c_jsonb_arr',
    sqlType: 'jsonb[]',
    rows: [`ARRAY['{"a": 1}'::jsonb, '[true, null]'::jsonb]`, `ARRAY['"s"'::jsonb]`],
    json: ['[{"a": 1},[true, null]]', '["s"]'],
    schema: n('array', { items: { type: ANY_JSON } }),
  },
  // to_json() prints array elements PostgreSQL's way: no offset on timestamp, 'infinity' and 'NaN' as strings
  {
    column: 'c_ts_arr',
    sqlType: 'timestamp[]',
    rows: ["ARRAY['2024-01-01 10:00:00.5'::timestamp, 'infinity']", "ARRAY['2024-01-01'::date]"],
    json: ['["2024-01-01T10:00:00.5","infinity"]', '["2024-01-01T00:00:00"]'],
    schema: n('array', { items: n('string') }),
  },
  {
    column: 'c_tstz_arr',
    sqlType: 'timestamptz[]',
    rows: ["ARRAY['2024-01-01 10:00:00+02'::timestamptz]", "ARRAY['-infinity'::timestamptz]"],
    json: ['["2024-01-01T08:00:00+00:00"]', '["-infinity"]'],
    schema: n('array', { items: n('string') }),
  },
  {
    column: 'c_date_arr',
    sqlType: 'date[]',
    rows: ["ARRAY['2024-01-31'::date, NULL]", "ARRAY['infinity'::date]"],
    json: ['["2024-01-31",null]', '["infinity"]'],
    schema: n('array', { items: n('string') }),
  },
  {
    column: 'c_num_arr',
    sqlType: 'numeric[]',
    rows: ["ARRAY['NaN', 1.50, 12345678901234567890.5]::numeric[]", "ARRAY['Infinity']::numeric[]"],
    json: ['["NaN",1.50,12345678901234567890.5]', '["Infinity"]'],
    schema: n('array', { items: n(['number', 'string', 'null']) }),
  },
  {
    column: 'c_float_arr',
    sqlType: 'float8[]',
    rows: ["ARRAY[0.1, '-Infinity']::float8[]", "ARRAY['NaN']::float8[]"],
    json: ['[0.1,"-Infinity"]', '["NaN"]'],
    schema: n('array', { items: n(['number', 'string', 'null']) }),
  },
  {
    column: 'c_tstz',
    sqlType: 'timestamptz',
    rows: ["'2024-01-01 10:00:00.123456+02'", "'infinity'"],
    json: ['"2024-01-01T08:00:00.123456Z"', 'null'],
    schema: n('string', { format: 'date-time' }),
  },
  {
    column: 'c_ts',
    sqlType: 'timestamp',
    rows: ["'2024-02-29 23:59:59.5'", "'-infinity'"],
    json: ['"2024-02-29T23:59:59.5Z"', 'null'],
    schema: n('string', { format: 'date-time' }),
  },
  {
    column: 'c_ts_bc',
    sqlType: 'timestamptz',
    rows: ["'0044-03-15 12:00:00+00 BC'", "'10000-01-01 00:00:00+00'"],
    json: ['null', 'null'],
    schema: n('string', { format: 'date-time' }),
  },
  {
    column: 'c_date',
    sqlType: 'date',
    rows: ["'2024-01-31'", "'infinity'"],
    json: ['"2024-01-31"', 'null'],
    schema: n('string', { format: 'date' }),
  },
  {
    column: 'c_date_bc',
    sqlType: 'date',
    rows: ["'0001-01-01 BC'", "'0001-01-01'"],
    json: ['null', '"0001-01-01"'],
    schema: n('string', { format: 'date' }),
  },
  { column: 'c_time', sqlType: 'time', rows: ["'13:45:30.25'", "'00:00:00'"], json: ['"13:45:30.25"', '"00:00:00"'], schema: n('string') },
  {
    column: 'c_timetz',
    sqlType: 'timetz',
    rows: ["'13:45:30+05:30'", "'01:00:00-08'"],
    json: ['"13:45:30+05:30"', '"01:00:00-08:00"'],
    schema: n('string', { format: 'time' }),
  },
  {
    column: 'c_interval',
    sqlType: 'interval',
    rows: ["'1 year 2 months 3 days 4 hours 5 minutes 6 seconds'", "'-1 day 0.5 seconds'"],
    json: ['"P1Y2M3DT4H5M6S"', '"P-1DT0.5S"'],
    schema: n('string'),
  },
  {
    column: 'c_bytea',
    sqlType: 'bytea',
    rows: ["'\\xDEADbeef00'::bytea", "''::bytea"],
    json: ['"deadbeef00"', '""'],
    schema: n('string', { contentEncoding: 'base16' }),
  },
  { column: 'c_inet', sqlType: 'inet', rows: ["'192.168.0.1/24'", "'::1'"], json: ['"192.168.0.1/24"', '"::1"'], schema: n('string') },
  {
    column: 'c_cidr',
    sqlType: 'cidr',
    rows: ["'10.0.0.0/8'", "'2001:db8::/32'"],
    json: ['"10.0.0.0/8"', '"2001:db8::/32"'],
    schema: n('string'),
  },
  {
    column: 'c_macaddr',
    sqlType: 'macaddr',
    rows: ["'08:00:2B:01:02:03'", "'ff-ff-ff-ff-ff-ff'"],
    json: ['"08:00:2b:01:02:03"', '"ff:ff:ff:ff:ff:ff"'],
    schema: n('string'),
  },
  {
    column: 'c_enum',
    sqlType: 'rt_mood',
    rows: ["'happy'", "'sad'"],
    json: ['"happy"', '"sad"'],
    schema: n('string', { enum: ['sad', 'ok', 'happy', null] }),
  },
  { column: 'c_int4range', sqlType: 'int4range', rows: ["'[1,10)'", "'empty'"], json: ['"[1,10)"', '"empty"'], schema: n('string') },
  {
    column: 'c_tstzrange',
    sqlType: 'tstzrange',
    rows: ["'[2024-01-01 00:00+00,2024-01-02 00:00+00)'", "'(,2024-01-01 00:00+00]'"],
    json: [str('["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")'), str('(,"2024-01-01 00:00:00+00"]')],
    schema: n('string'),
  },
  { column: 'c_money', sqlType: 'money', rows: ["'1234.56'", "'-0.01'"], json: ['1234.56', '-0.01'], schema: n('number') },
  { column: 'c_bit', sqlType: 'bit(4)', rows: ["B'1010'", "B'0000'"], json: ['"1010"', '"0000"'], schema: n('string') },
  { column: 'c_varbit', sqlType: 'varbit', rows: ["B'101'", "B''"], json: ['"101"', '""'], schema: n('string') },
  { column: 'c_domain', sqlType: 'rt_posint', rows: ['5', '2147483647'], json: ['5', '2147483647'], schema: n('integer') },
  { column: 'c_domain2', sqlType: 'rt_small_posint', rows: ['7', '99'], json: ['7', '99'], schema: n('integer') },
  { column: 'c_domain_text', sqlType: 'rt_code', rows: ["'AB-1'", "'ZZ-9'"], json: ['"AB-1"', '"ZZ-9"'], schema: n('string') },
];

const CITEXT_CASE: TypeCase = {
  column: 'c_citext',
  sqlType: 'citext',
  rows: ["'MiXeD Case'", "''"],
  json: ['"MiXeD Case"', '""'],
  schema: n('string'),
};

/**
 * Creates `table` (id int primary key + one column per case) with rows 1, 2 (the cases' values) and 3
 * (all NULL), and returns the cases it holds: citext only where the extension can be created.
 */
export async function createTypesTable(db: TestDatabase, table: string): Promise<TypeCase[]> {
  const cases = [...TYPE_CASES];
  const [ext] = await db.sql(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'citext'`);
  if (ext!.n > 0) {
    await db.sql('CREATE EXTENSION IF NOT EXISTS citext');
    cases.push(CITEXT_CASE);
  }
  await db.sql(`
    CREATE TYPE rt_mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN rt_posint AS integer CHECK (VALUE > 0);
    CREATE DOMAIN rt_small_posint AS rt_posint CHECK (VALUE < 100);
    CREATE DOMAIN rt_code AS varchar(8) CHECK (VALUE ~ '^[A-Z]{2}-[0-9]$');
    CREATE TABLE ${table} (id integer PRIMARY KEY, ${cases.map((c) => `${c.column} ${c.sqlType}`).join(', ')});
    INSERT INTO ${table} (id, ${cases.map((c) => c.column).join(', ')}) VALUES
      (1, ${cases.map((c) => c.rows[0]).join(', ')}),
      (2, ${cases.map((c) => c.rows[1]).join(', ')});
    INSERT INTO ${table} (id) VALUES (3);`);
  return cases;
}

/** The exact JSON text of each column of row `id` (1, 2 or 3) as the RECORD must hold it. */
export function expectedRecordFields(cases: readonly TypeCase[], id: 1 | 2 | 3): Record<string, string> {
  return Object.fromEntries([['id', String(id)], ...cases.map((c) => [c.column, id === 3 ? 'null' : c.json[id - 1]!])]);
}

/**
 * Splits the `record` object of a RECORD line into its top-level fields as raw JSON text, so values
 * are compared as written (JSON.parse would round a bigint past 2^53 and hide a wrong digit).
 */
export function rawRecordFields(line: string): Record<string, string> {
  const start = line.indexOf('"record":{') + '"record":'.length;
  const out: Record<string, string> = {};
  let depth = 0;
  let inString = false;
  let fieldStart = start + 1;
  for (let i = start; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if ((c === ',' && depth === 1) || ((c === '}' || c === ']') && --depth === 0)) {
      const field = line.slice(fieldStart, i);
      if (field) {
        const keyEnd = stringEnd(field, 0);
        out[JSON.parse(field.slice(0, keyEnd)) as string] = field.slice(keyEnd + 1);
      }
      fieldStart = i + 1;
      if (depth === 0) break;
    }
  }
  return out;
}

/** The index just past the JSON string that starts at `from` (a quote). */
function stringEnd(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new Error(`unterminated JSON string in ${text.slice(from, from + 80)}`);
}
