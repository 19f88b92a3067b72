import type { ValueKind } from './type-mapping.js';

/**
 * The JSON text of one value, from PostgreSQL's text output under the tap's session settings.
 * This is the reference conversion: the fast transcoder must produce the same text byte for byte.
 */
export function jsonValueText(kind: ValueKind, text: string): string {
  switch (kind) {
    case 'integer':
      return text;
    case 'number':
      return /^-?(NaN|Infinity)$/.test(text) ? 'null' : text;
    case 'boolean':
      return text === 't' ? 'true' : 'false';
    case 'json':
      return foldJsonWhitespace(text);
    case 'timestamptz':
    case 'timestamp':
      return timestampJson(text);
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(text) ? `"${text}"` : 'null';
    case 'bytea':
      return JSON.stringify(text.startsWith('\\x') ? text.slice(2) : text);
    case 'string':
      return JSON.stringify(text);
  }
}

/** '2024-01-01 10:00:00.123456+00' or '2024-01-01 10:00:00' -> "2024-01-01T10:00:00.123456Z"; infinity, BC and years past 9999 -> null. */
function timestampJson(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)(\+00)?$/.exec(text);
  return m ? `"${m[1]}T${m[2]}Z"` : 'null';
}

/** json keeps the input's whitespace, newlines included; outside strings it is insignificant, inside it is escaped. */
function foldJsonWhitespace(text: string): string {
  return /[\n\r\t]/.test(text) ? text.replace(/[\n\r\t]/g, ' ') : text;
}

/** A JSON value text as a bookmark value: numbers that JavaScript cannot hold exactly stay strings. */
export function bookmarkValue(jsonText: string): unknown {
  const value: unknown = JSON.parse(jsonText);
  if (typeof value === 'number' && !Number.isSafeInteger(value) && /^-?\d+$/.test(jsonText)) return jsonText;
  if (typeof value === 'number' && String(value) !== jsonText && /^-?\d+\.\d+$/.test(jsonText)) return jsonText;
  return value;
}
