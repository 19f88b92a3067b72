import pg from 'pg';

/** Quotes an identifier ("my ""table"""): every table and column name goes through here. */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

/** Quotes a literal ('it''s', E'\\…' where needed). */
export function quoteLiteral(value: string): string {
  return pg.escapeLiteral(value);
}

/** `"schema"."table"` */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** A literal of a JSON bookmark value cast to the column's SQL type: `'2024-01-01T00:00:00Z'::timestamp with time zone`. */
export function typedLiteral(value: unknown, sqlType: string): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `${quoteLiteral(text)}::${sqlType}`;
}
