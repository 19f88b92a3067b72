const NL = 10;
const QUOTE = 34;
const COMMA = 44;
const BS = 92;
const LBRACE = 123;
const RBRACE = 125;
const LBRACK = 91;
const RBRACK = 93;
const N = 110;
const COLON = 58;
const HEX = Buffer.from('0123456789abcdef');

/**
 * Rewrites record lines (one JSON object per line, as the JSONL path writes them) so that the values of
 * chosen keys become JSON strings of their text: `"amount":12345678901234567890.5` becomes
 * `"amount":"12345678901234567890.5"`, `"doc":{"a":1}` becomes `"doc":"{\"a\":1}"`. DuckDB's JSON reader
 * then hands those columns over as text, where it would have parsed their numbers as doubles. null stays
 * null. Everything between the values it rewrites is copied in runs.
 */
export class ExactValueStager {
  private readonly keys: Buffer[];
  private readonly staged: boolean[];
  private readonly byKey = new Map<string, boolean>();
  private out = Buffer.alloc(0);
  private o = 0;

  constructor(columns: readonly { readonly name: string; readonly staged: boolean }[]) {
    this.keys = columns.map((c) => Buffer.from(JSON.stringify(c.name)));
    this.staged = columns.map((c) => c.staged);
    columns.forEach((c, i) => this.byKey.set(this.keys[i]!.toString('latin1'), c.staged));
  }

  /** True when some value needs staging; otherwise stage() would copy the lines unchanged. */
  get needed(): boolean {
    return this.staged.includes(true);
  }

  stage(lines: Buffer): Buffer {
    this.out = Buffer.allocUnsafe(lines.length + (lines.length >> 2) + 64);
    this.o = 0;
    let run = 0;
    let p = 0;
    while (p < lines.length) {
      if (lines[p] !== LBRACE) throw this.malformed(lines, p);
      p++;
      for (let i = 0; lines[p] !== RBRACE; i++) {
        if (i > 0 && lines[p++] !== COMMA) throw this.malformed(lines, p - 1);
        // the records list the keys in the stream's column order: the expected key is compared in place
        const ks = p;
        const key = this.keys[i];
        let staged: boolean;
        if (key !== undefined && startsWith(lines, p, key) && lines[p + key.length] === COLON) {
          staged = this.staged[i]!;
          p += key.length + 1;
        } else {
          p = stringEnd(lines, p);
          if (lines[p] !== COLON) throw this.malformed(lines, p);
          staged = this.byName(lines, ks, p);
          p++;
        }
        const vs = p;
        p = valueEnd(lines, p);
        if (staged && !(lines[vs] === N && p - vs === 4)) {
          this.copy(lines, run, vs);
          this.quote(lines, vs, p);
          run = p;
        }
      }
      if (lines[++p] !== NL) throw this.malformed(lines, p);
      p++;
    }
    this.copy(lines, run, lines.length);
    return this.out.subarray(0, this.o);
  }

  /** the key at [ks, ke) (with its quotes), when the records list the keys in another order */
  private byName(s: Buffer, ks: number, ke: number): boolean {
    const staged = this.byKey.get(s.toString('latin1', ks, ke));
    if (staged === undefined) throw new Error(`a record holds a column the stream does not select: ${s.toString('utf8', ks, ke)}`);
    return staged;
  }

  private copy(s: Buffer, from: number, to: number): void {
    this.ensure(to - from);
    this.o += s.copy(this.out, this.o, from, to);
  }

  private quote(s: Buffer, from: number, to: number): void {
    this.ensure((to - from) * 6 + 2);
    const out = this.out;
    let o = this.o;
    out[o++] = QUOTE;
    for (let p = from; p < to; p++) {
      const b = s[p]!;
      if (b === QUOTE || b === BS) {
        out[o++] = BS;
        out[o++] = b;
      } else if (b < 0x20) {
        o += out.write('\\u00', o, 'latin1');
        out[o++] = HEX[b >> 4]!;
        out[o++] = HEX[b & 15]!;
      } else out[o++] = b;
    }
    out[o++] = QUOTE;
    this.o = o;
  }

  private ensure(n: number): void {
    if (this.o + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + n));
    this.out.copy(bigger, 0, 0, this.o);
    this.out = bigger;
  }

  private malformed(s: Buffer, at: number): Error {
    const line = s.lastIndexOf(NL, at) + 1;
    return new Error(`not a record line at byte ${at - line}: ${s.toString('utf8', line, Math.min(s.length, line + 120))}`);
  }
}

function startsWith(s: Buffer, p: number, key: Buffer): boolean {
  for (let k = 0; k < key.length; k++) if (s[p + k] !== key[k]) return false;
  return true;
}

/** the index after the string starting at s[p] (a quote); a byte loop, as most strings here are short */
function stringEnd(s: Buffer, p: number): number {
  const n = s.length;
  for (let q = p + 1; q < n; q++) {
    const b = s[q];
    if (b === QUOTE) return q + 1;
    if (b === BS) q++;
  }
  throw new Error('a record line ends inside a string');
}

/** the index after the JSON value starting at s[p] */
function valueEnd(s: Buffer, p: number): number {
  const b = s[p];
  if (b === QUOTE) return stringEnd(s, p);
  if (b === LBRACE || b === LBRACK) {
    let depth = 0;
    for (;;) {
      const c = s[p];
      if (c === QUOTE) {
        p = stringEnd(s, p);
        continue;
      }
      if (c === undefined || c === NL) throw new Error('a record line ends inside a JSON value');
      if (c === LBRACE || c === LBRACK) depth++;
      else if ((c === RBRACE || c === RBRACK) && --depth === 0) return p + 1;
      p++;
    }
  }
  // a number, true, false or null: none holds a comma or a brace
  while (p < s.length && s[p] !== COMMA && s[p] !== RBRACE && s[p] !== NL) p++;
  return p;
}
