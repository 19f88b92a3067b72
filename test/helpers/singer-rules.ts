import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const TYPES = new Set(['SCHEMA', 'RECORD', 'STATE', 'ACTIVATE_VERSION']);

export interface SingerRulesOptions {
  /** the run ended with exit code 0: every FULL_TABLE version must have been closed by ACTIVATE_VERSION */
  readonly complete?: boolean;
  /** orders two bookmark values of a stream; the default knows numbers, integer strings, RFC 3339 times and dates, else code points (the C collation) */
  readonly compare?: (stream: string, a: unknown, b: unknown) => number;
  /** stop collecting after this many problems */
  readonly maxProblems?: number;
}

interface StreamState {
  validate: ValidateFunction;
  keyProperties: string[];
  bookmarkProperty?: string;
  /** the version of the last ACTIVATE_VERSION, or the state's version on a resumed run */
  version?: number;
  /** versions with records that no ACTIVATE_VERSION has closed yet */
  open: Set<number>;
  /** the bookmark property of the last record where it is not null */
  lastKey?: unknown;
  /** the position the last STATE promised: rows after it must not sort before it */
  bookmark?: { key?: unknown; pk?: Record<string, unknown> };
  nullKeyAfterBookmark?: boolean;
}

/**
 * Checks a tap's stdout against the Singer rules line by line (feed it with `line`, then `end`), so a
 * test of a million rows can check without keeping them:
 * - every line is one JSON object with a known `type`
 * - a stream's SCHEMA comes before its RECORDs; it has `key_properties` and `bookmark_properties`
 *   arrays naming properties of the schema, and the schema compiles
 * - every RECORD validates against its stream's last SCHEMA (ajv + ajv-formats: date-time, date, time, uuid …)
 * - FULL_TABLE: a RECORD's version is the stream's last ACTIVATE_VERSION (or, on a resumed run, the
 *   version in the STATE); when the run completed, an ACTIVATE_VERSION of that version follows the last record
 * - every STATE value is an object with a `bookmarks` object
 * - the bookmark is never ahead of rows not yet emitted: after a STATE whose bookmark holds a
 *   `replication_key_value` (or a `last_pk_fetched` naming every key property), every RECORD of that stream
 *   has a key >= it (a pk > it):
 *   a run resumed from that STATE (`WHERE key >= value`) would lose any row that broke this. A key that is
 *   null in JSON (a NULL, or infinity/NaN: JSON cannot tell them apart) may follow only after every finite
 *   key, where infinity and NaN sort. A bookmark that moves names a row already emitted (the last one before it with a key).
 *   Bookmarks of the chunk reader (`chunks`) resume per chunk, not by key order: not checked here.
 */
export class SingerRules {
  readonly problems: string[] = [];
  readonly counts = { SCHEMA: 0, RECORD: 0, STATE: 0, ACTIVATE_VERSION: 0 } as Record<string, number>;
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly streams = new Map<string, StreamState>();
  private lineNo = 0;

  constructor(private readonly options: SingerRulesOptions = {}) {
    addFormats(this.ajv);
  }

  private problem(text: string): void {
    if (this.problems.length < (this.options.maxProblems ?? 50)) this.problems.push(`line ${this.lineNo}: ${text}`);
  }

  line(text: string): void {
    this.lineNo++;
    let m: Record<string, any>;
    try {
      m = JSON.parse(text);
    } catch {
      return this.problem(`not JSON: ${text.slice(0, 120)}`);
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return this.problem(`not a JSON object: ${text.slice(0, 120)}`);
    if (!TYPES.has(m.type)) return this.problem(`unknown message type ${JSON.stringify(m.type)}`);
    this.counts[m.type]++;
    if (m.type === 'SCHEMA') this.schema(m);
    else if (m.type === 'RECORD') this.record(m);
    else if (m.type === 'STATE') this.state(m);
    else this.activateVersion(m);
  }

  private schema(m: Record<string, any>): void {
    const props = m.schema?.properties;
    if (typeof m.stream !== 'string' || typeof props !== 'object') return this.problem('SCHEMA without stream or schema.properties');
    if (!Array.isArray(m.key_properties)) return this.problem(`SCHEMA of ${m.stream} has no key_properties array`);
    if (!Array.isArray(m.bookmark_properties)) return this.problem(`SCHEMA of ${m.stream} has no bookmark_properties array`);
    for (const k of [...m.key_properties, ...m.bookmark_properties]) {
      if (!(k in props)) this.problem(`SCHEMA of ${m.stream} names ${k} in key/bookmark properties, not in its properties`);
    }
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile(m.schema);
    } catch (err) {
      return this.problem(`SCHEMA of ${m.stream} does not compile: ${(err as Error).message}`);
    }
    const previous = this.streams.get(m.stream);
    this.streams.set(m.stream, {
      validate,
      keyProperties: m.key_properties,
      bookmarkProperty: m.bookmark_properties[0],
      version: previous?.version,
      open: previous?.open ?? new Set(),
    });
  }

  private record(m: Record<string, any>): void {
    const s = this.streams.get(m.stream);
    if (!s) return this.problem(`RECORD of ${m.stream} before its SCHEMA`);
    if (typeof m.record !== 'object' || m.record === null) return this.problem(`RECORD of ${m.stream} without a record object`);
    if (!s.validate(m.record)) {
      const errs = (s.validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ');
      this.problem(`RECORD of ${m.stream} does not match its SCHEMA: ${errs} in ${JSON.stringify(m.record).slice(0, 300)}`);
    }
    if (m.version !== undefined) {
      if (m.version !== s.version) this.problem(`RECORD of ${m.stream} has version ${m.version}, but the stream's version is ${s.version}`);
      s.open.add(m.version);
    }
    this.checkPosition(m.stream, s, m.record);
    const key = s.bookmarkProperty ? m.record[s.bookmarkProperty] : undefined;
    if (key !== null && key !== undefined) s.lastKey = key;
  }

  /** Rows not yet emitted when a STATE was written must sort at or after its bookmark. */
  private checkPosition(stream: string, s: StreamState, record: Record<string, unknown>): void {
    const b = s.bookmark;
    if (!b) return;
    if (b.key !== undefined && s.bookmarkProperty) {
      const v = record[s.bookmarkProperty];
      // null in JSON is a NULL (which `key >= bookmark` would lose) or infinity/NaN (which sort after
      // every finite value): either way, after a bookmark it may only come after every finite key
      if (v === null || v === undefined) s.nullKeyAfterBookmark = true;
      else if (s.nullKeyAfterBookmark)
        this.problem(
          `RECORD of ${stream} with ${s.bookmarkProperty} ${JSON.stringify(v)} after a NULL one that followed a STATE: a NULL there would be lost by a resumed run`,
        );
      else if (this.compare(stream, v, b.key) < 0)
        this.problem(
          `RECORD of ${stream} with ${s.bookmarkProperty} ${JSON.stringify(v)} after a STATE at ${JSON.stringify(b.key)}: a resumed run would lose it`,
        );
    }
    // the tap resumes after last_pk_fetched only when it names every key property of the stream (a
    // stream without a key, or a bookmark missing one, is read from the start): only then can rows be lost
    if (b.pk && s.keyProperties.length > 0 && s.keyProperties.every((k) => k in b.pk!)) {
      const keys = s.keyProperties;
      const cmp = this.compareTuple(
        stream,
        keys.map((k) => record[k]),
        keys.map((k) => b.pk![k]),
      );
      if (cmp <= 0)
        this.problem(
          `RECORD of ${stream} with key ${JSON.stringify(keys.map((k) => record[k]))} after a STATE with last_pk_fetched ${JSON.stringify(b.pk)}: a resumed run would lose it`,
        );
    }
  }

  private state(m: Record<string, any>): void {
    const v = m.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.problem('STATE value is not an object');
    if (typeof v.bookmarks !== 'object' || v.bookmarks === null || Array.isArray(v.bookmarks))
      return this.problem('STATE value has no bookmarks object');
    for (const [id, raw] of Object.entries(v.bookmarks as Record<string, any>)) {
      const s = this.streams.get(id);
      if (!s || typeof raw !== 'object' || raw === null) continue;
      if (s.version === undefined && typeof raw.version === 'number') s.version = raw.version; // a resumed FULL_TABLE
      if ('chunks' in raw) {
        s.bookmark = undefined;
        continue;
      }
      const key = raw.replication_key_value;
      const pk = raw.last_pk_fetched as Record<string, unknown> | undefined;
      const moved = key !== undefined && key !== null && (s.bookmark?.key === undefined || this.compare(id, key, s.bookmark.key) !== 0);
      // the stream's first STATE (after its SCHEMA) echoes the input state; later ones may only move to a row emitted
      const first = s.bookmark === undefined;
      if (moved && !first && (s.lastKey === undefined || this.compare(id, key, s.lastKey) !== 0)) {
        this.problem(
          `STATE moves ${id} to ${JSON.stringify(key)}, not the key of the last record emitted with one (${JSON.stringify(s.lastKey)})`,
        );
      }
      s.bookmark = { key: key ?? undefined, pk: pk && typeof pk === 'object' ? pk : undefined };
    }
  }

  private activateVersion(m: Record<string, any>): void {
    const s = this.streams.get(m.stream);
    if (!s) return this.problem(`ACTIVATE_VERSION of ${m.stream} before its SCHEMA`);
    if (!Number.isInteger(m.version)) return this.problem(`ACTIVATE_VERSION of ${m.stream} has no integer version`);
    s.open.delete(m.version);
    s.version = m.version;
  }

  /** The problems found, after the rules that need the whole output. */
  end(): string[] {
    if (this.options.complete) {
      for (const [stream, s] of this.streams) {
        for (const v of s.open) this.problems.push(`${stream}: records of version ${v} but no ACTIVATE_VERSION ${v} after them`);
      }
    }
    return this.problems;
  }

  private compare(stream: string, a: unknown, b: unknown): number {
    return this.options.compare ? this.options.compare(stream, a, b) : compareBookmarkValues(a, b);
  }

  private compareTuple(stream: string, a: unknown[], b: unknown[]): number {
    for (let i = 0; i < a.length; i++) {
      const c = this.compare(stream, a[i], b[i]);
      if (c !== 0) return c;
    }
    return 0;
  }
}

/** Checks a whole stdout; returns the problems (empty when every rule holds). */
export function singerProblems(stdout: string, options: SingerRulesOptions = {}): string[] {
  const rules = new SingerRules(options);
  for (const line of stdout.split('\n')) if (line.length > 0) rules.line(line);
  if (stdout.length > 0 && !stdout.endsWith('\n')) rules.problems.push('stdout does not end with a complete line');
  return rules.end();
}

const TIME = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z)?$/;

/** Numbers (and integers written as strings past 2^53) by value, RFC 3339 UTC times to the microsecond, else code points. */
export function compareBookmarkValues(a: unknown, b: unknown): number {
  const ints = [a, b].map((v) =>
    typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : undefined,
  );
  if (ints[0] !== undefined && ints[1] !== undefined) return ints[0] < ints[1] ? -1 : ints[0] > ints[1] ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const ta = typeof a === 'string' ? TIME.exec(a) : null;
  const tb = typeof b === 'string' ? TIME.exec(b) : null;
  const norm = (t: RegExpExecArray) => `${t[1]}T${t[2] ?? '00:00:00'}.${(t[3] ?? '').padEnd(9, '0')}`;
  const [x, y] = ta && tb ? [norm(ta), norm(tb)] : [String(a), String(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
