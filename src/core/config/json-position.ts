/**
 * Where a JSON text goes wrong, as a line and column and a problem in words, never the text itself.
 * `JSON.parse`'s own message quotes the text around the fault (`Unexpected token ''', ..."password":'Sup3rSecr"...`):
 * a config's password, or the first bytes of whatever file `--plugin-options X=@file` named, would reach
 * the CRITICAL line. This scanner follows RFC 8259 and is only run once `JSON.parse` has refused the text
 * (or once a parsed value is found too deep), so it costs nothing on good input.
 */
export interface JsonPosition {
  /** 1-based */
  readonly line: number;
  /** 1-based, in characters of the line */
  readonly column: number;
  /** what is wrong there, in words that quote nothing from the text */
  readonly problem: string;
  /** a syntax error, or valid JSON nested deeper than the limit */
  readonly kind: 'syntax' | 'depth';
}

/** "line 3, column 14" */
export function describePosition(p: Pick<JsonPosition, 'line' | 'column'>): string {
  return `line ${p.line}, column ${p.column}`;
}

/**
 * The first problem of `text` as JSON: a syntax error, or nesting deeper than `depthLimit` arrays and
 * objects (the scanner descends recursively: the limit also bounds its stack). Undefined for valid JSON
 * within the limit.
 */
export function jsonProblem(text: string, depthLimit: number): JsonPosition | undefined {
  try {
    new JsonScanner(text, depthLimit).document();
    return undefined;
  } catch (err) {
    if (err instanceof ScanStop) return err.position;
    throw err;
  }
}

class ScanStop extends Error {
  constructor(readonly position: JsonPosition) {
    super(position.problem);
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/** A recursive descent whose depth `limit` bounds (the tap's inputs allow 64 levels). */
class JsonScanner {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly limit: number,
  ) {}

  document(): void {
    // a byte-order mark is not JSON (JSON.parse refuses it); say so rather than "an unexpected character"
    if (this.text.charCodeAt(0) === 0xfeff) this.fail('a byte-order mark (save the file as UTF-8 without BOM)');
    this.space();
    this.value();
    this.space();
    if (this.i < this.text.length) this.fail(`more after the end of the JSON value (${this.what()})`);
  }

  private value(): void {
    const c = this.text[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return;
      }
    }
    this.fail(`a value was expected, found ${this.what()}`);
  }

  private object(): void {
    this.enter();
    this.i++;
    this.space();
    if (this.text[this.i] === '}') return this.leave();
    for (;;) {
      if (this.text[this.i] !== '"') this.fail(`a property name in double quotes was expected, found ${this.what()}`);
      this.string();
      this.space();
      if (this.text[this.i] !== ':') this.fail(`':' was expected after a property name, found ${this.what()}`);
      this.i++;
      this.space();
      this.value();
      this.space();
      const c = this.text[this.i];
      if (c === '}') return this.leave();
      if (c !== ',') this.fail(`',' or '}' was expected, found ${this.what()}`);
      this.i++;
      this.space();
      if (this.text[this.i] === '}') this.fail("a trailing ',' before '}' (JSON allows none)");
    }
  }

  private array(): void {
    this.enter();
    this.i++;
    this.space();
    if (this.text[this.i] === ']') return this.leave();
    for (;;) {
      this.value();
      this.space();
      const c = this.text[this.i];
      if (c === ']') return this.leave();
      if (c !== ',') this.fail(`',' or ']' was expected, found ${this.what()}`);
      this.i++;
      this.space();
      if (this.text[this.i] === ']') this.fail("a trailing ',' before ']' (JSON allows none)");
    }
  }

  private string(): void {
    const start = this.i;
    this.i++;
    for (;;) {
      if (this.i >= this.text.length) this.fail('a string that is never closed', start);
      const code = this.text.charCodeAt(this.i);
      if (code === 0x22) break;
      if (code < 0x20) this.fail('a control character (a line break, a tab…) inside a string: write it as an escape (\\n, \\t)');
      if (code === 0x5c) {
        const e = this.text[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) this.fail('a \\u escape without 4 hex digits');
          this.i += 6;
          continue;
        }
        if (e === undefined || !ESCAPES.has(e)) this.fail('an invalid escape in a string (a backslash is written \\\\)');
        this.i += 2;
        continue;
      }
      this.i++;
    }
    this.i++;
  }

  private number(): void {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 1024));
    if (!m || m[0] === '-') this.fail('a malformed number');
    this.i += m![0].length;
  }

  private space(): void {
    while (this.i < this.text.length && WS.has(this.text[this.i]!)) this.i++;
  }

  private enter(): void {
    if (++this.depth > this.limit) throw new ScanStop(this.position(this.i, `nesting deeper than ${this.limit} levels`, 'depth'));
  }

  private leave(): void {
    this.depth--;
    this.i++;
  }

  /** The kind of character at the cursor: its class only, never the character (it may be part of a secret). */
  private what(): string {
    if (this.i >= this.text.length) return 'the end of the file';
    const c = this.text[this.i]!;
    if (c === "'") return 'a single quote (JSON strings take double quotes)';
    if ('{}[],:"'.includes(c)) return `'${c}'`;
    if (/[A-Za-z_$]/.test(c)) return 'a word without quotes';
    if (c === '/') return "'/' (JSON has no comments)";
    return 'an unexpected character';
  }

  private fail(problem: string, at = this.i): never {
    throw new ScanStop(this.position(at, problem, 'syntax'));
  }

  private position(at: number, problem: string, kind: JsonPosition['kind']): JsonPosition {
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < at && k < this.text.length; k++) {
      if (this.text.charCodeAt(k) === 0x0a) {
        line++;
        lineStart = k + 1;
      }
    }
    return { line, column: at - lineStart + 1, problem, kind };
  }
}
