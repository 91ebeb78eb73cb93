// A small reader for EDN (github.com/edn-format/edn), the subset Jepsen histories use: maps,
// vectors, lists, sets, keywords, symbols (nil, true, false), integers and decimals (with Clojure's
// N and M suffixes), strings, characters, comments, `#_` discards and tagged forms (the tag is
// dropped: `#jepsen.history.Op{...}` reads as its map). No npm package in the project reads EDN,
// and a Jepsen history needs only this much.

export class Keyword {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  toString(): string {
    return `:${this.name}`;
  }
}

export class EdnSymbol {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

export class EdnMap {
  readonly entries: [Edn, Edn][];
  /** 1-based line where the map opens. */
  readonly line: number;
  constructor(entries: [Edn, Edn][], line: number) {
    this.entries = entries;
    this.line = line;
  }
  /** The value under keyword `:name`, or undefined. */
  get(name: string): Edn | undefined {
    for (const [k, v] of this.entries) if (k instanceof Keyword && k.name === name) return v;
    return undefined;
  }
  has(name: string): boolean {
    return this.entries.some(([k]) => k instanceof Keyword && k.name === name);
  }
}

/** Vectors, lists and sets all read as arrays. */
export type Edn = null | boolean | number | string | Keyword | EdnSymbol | EdnMap | Edn[];

export class EdnSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, problem: string) {
    super(`history line ${line}: ${problem} (read as EDN; --format jsonl if the file is JSON Lines)`);
    this.line = line;
  }
}

const delimiters = new Set(['{', '}', '[', ']', '(', ')', '"', ';']);
const closers: Record<string, string> = { '{': '}', '[': ']', '(': ')' };

/** Reads every top-level form of `text`, calling `onForm` with each and the line it starts on. */
export function readEdnForms(text: string, onForm: (form: Edn, line: number) => void): void {
  new Reader(text).readAll(onForm);
}

class Reader {
  private pos = 0;
  private line = 1;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  readAll(onForm: (form: Edn, line: number) => void): void {
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.text.length) return;
      const line = this.line;
      const form = this.readForm();
      if (form !== discarded) onForm(form, line);
    }
  }

  private fail(problem: string): never {
    throw new EdnSyntaxError(this.line, problem);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (c === '\n') { this.line++; this.pos++; }
      else if (c === ' ' || c === ',' || c === '\t' || c === '\r') this.pos++;
      else if (c === ';') { while (this.pos < t.length && t[this.pos] !== '\n') this.pos++; }
      else return;
    }
  }

  private readForm(): Edn | typeof discarded {
    const c = this.text[this.pos];
    if (c === '{' || c === '[' || c === '(') return this.readCollection(c);
    if (c === '}' || c === ']' || c === ')') this.fail(`unexpected "${c}"`);
    if (c === '"') return this.readString();
    if (c === '\\') return this.readCharacter();
    if (c === '#') return this.readDispatch();
    return this.readAtom();
  }

  private readCollection(open: string, set = false): Edn {
    const line = this.line;
    this.pos++;
    const items: Edn[] = [];
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.text.length) throw new EdnSyntaxError(line, `"${open}" opened on line ${line} is never closed`);
      const c = this.text[this.pos];
      if (c === closers[open]) { this.pos++; break; }
      const item = this.readForm();
      if (item !== discarded) items.push(item);
    }
    if (open !== '{' || set) return items;
    if (items.length % 2 !== 0) throw new EdnSyntaxError(line, 'a map needs an even number of forms (key value pairs)');
    const entries: [Edn, Edn][] = [];
    for (let i = 0; i < items.length; i += 2) entries.push([items[i], items[i + 1]]);
    return new EdnMap(entries, line);
  }

  private readString(): string {
    const start = this.line;
    let out = '';
    this.pos++;
    for (;;) {
      if (this.pos >= this.text.length) throw new EdnSyntaxError(start, 'a string is never closed');
      const c = this.text[this.pos++];
      if (c === '"') return out;
      if (c === '\n') this.line++;
      if (c !== '\\') { out += c; continue; }
      const e = this.text[this.pos++];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };
      if (e in simple) out += simple[e];
      else if (e === 'u') {
        const hex = this.text.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`bad \\u escape "\\u${hex}"`);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 4;
      } else this.fail(`unknown string escape "\\${e}"`);
    }
  }

  private readCharacter(): string {
    this.pos++;
    const token = this.token();
    const named: Record<string, string> = { newline: '\n', space: ' ', tab: '\t', return: '\r' };
    if (token.length === 1) return token;
    if (token in named) return named[token];
    if (/^u[0-9a-fA-F]{4}$/.test(token)) return String.fromCharCode(parseInt(token.slice(1), 16));
    return this.fail(`unknown character "\\${token}"`);
  }

  private readDispatch(): Edn | typeof discarded {
    const next = this.text[this.pos + 1];
    if (next === '{') {
      this.pos++;
      return this.readCollection('{', true);
    }
    if (next === '_') {
      this.pos += 2;
      this.skipSpace();
      this.readForm();
      return discarded;
    }
    // A tagged form: #inst "…", #uuid "…", #jepsen.history.Op{…}. Keep the form, drop the tag.
    this.pos++;
    const tag = this.token();
    if (tag === '') this.fail('"#" with no tag');
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail(`tag #${tag} with no form after it`);
    return this.readForm();
  }

  private token(): string {
    const start = this.pos;
    const t = this.text;
    while (this.pos < t.length && !delimiters.has(t[this.pos]) && !/[\s,]/.test(t[this.pos])) this.pos++;
    return t.slice(start, this.pos);
  }

  private readAtom(): Edn {
    const token = this.token();
    if (token === '') this.fail(`unexpected "${this.text[this.pos]}"`);
    if (token === 'nil') return null;
    if (token === 'true') return true;
    if (token === 'false') return false;
    if (token[0] === ':') {
      if (token.length === 1) this.fail('":" with no keyword name');
      return new Keyword(token.slice(1));
    }
    if (/^[+-]?\d/.test(token)) return this.number(token);
    return new EdnSymbol(token);
  }

  private number(token: string): number {
    const m = /^([+-]?\d+)N?$/.exec(token) ?? /^([+-]?\d+(\.\d*)?([eE][+-]?\d+)?)M?$/.exec(token);
    if (m === null) this.fail(`bad number "${token}"`);
    const n = Number(m![1]);
    if (!Number.isFinite(n)) this.fail(`number out of range "${token}"`);
    return n;
  }
}

const discarded = Symbol('discarded');
