import type { JsonSchema } from './config-schema.js';

/**
 * The values a raw config holds under properties its schema marks `secret: true` (the core's and every
 * plugin's, at any depth), and the password of its `url`: what no log line may print. Read from the raw
 * config, so the warnings of its own parsing (an unknown key's name) are redacted too.
 */
export function configSecrets(raw: unknown, schema: JsonSchema): string[] {
  const out: string[] = [];
  collect(raw, schema, out);
  const url = isObject(raw) ? raw.url : undefined;
  if (typeof url === 'string') {
    try {
      const password = new URL(url).password;
      out.push(password);
      out.push(decodeURIComponent(password));
    } catch {
      // not a URL, or a malformed %-escape: the config's check names it; the whole value is among the secrets
    }
  }
  return [...new Set(out.filter((s) => s.length > 0))];
}

function collect(value: unknown, schema: JsonSchema, out: string[]): void {
  const properties = schema.properties;
  if (!isObject(value) || !isObject(properties)) return;
  for (const [key, sub] of Object.entries(properties)) {
    if (!isObject(sub) || !Object.hasOwn(value, key)) continue;
    const v = value[key];
    if (sub.secret === true && typeof v === 'string') out.push(v);
    else collect(v, sub, out);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
