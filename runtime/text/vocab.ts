/**
 * Vocabularies for language modelling (characters or whitespace-separated words) and the batching
 * of a token stream into time-major `[T, B]` windows for stateful (truncated-BPTT) training.
 *
 * Browser-safe: no Node imports.
 */

export const PAD = '<PAD>';
export const UNK = '<UNK>';
export const EOS = '<EOS>';
export const PAD_ID = 0;
export const UNK_ID = 1;
export const EOS_ID = 2;
/** The special tokens, in id order. */
export const SPECIAL_TOKENS: readonly string[] = Object.freeze([PAD, UNK, EOS]);

export type VocabularyUnit = 'char' | 'word';

export interface VocabularyOptions {
  /** Symbols are code points (`'char'`) or whitespace-separated words (`'word'`). */
  unit: VocabularyUnit;
  /** Largest vocabulary size, special tokens included (so at least 3). */
  maxSize?: number;
  /** Keep only symbols seen at least this many times (default 1). */
  minCount?: number;
}

/** The JSON form stored in checkpoints. */
export interface VocabularyJSON {
  format: 'seqc-vocabulary';
  version: 1;
  unit: VocabularyUnit;
  /** The special tokens, in id order (ids 0..2). */
  specials: string[];
  /** The other symbols in id order (ids 3..). */
  symbols: string[];
  /** How often each of `symbols` occurred in the text it was built from. */
  counts: number[];
}

/** Compare two strings by code point (not by UTF-16 unit). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

/** The symbols of `text` in order: its code points, or its whitespace-separated words. */
export function tokenize(text: string, unit: VocabularyUnit): string[] {
  if (unit === 'char') return Array.from(text);
  return text.split(/\s+/).filter((w) => w.length > 0);
}

export class Vocabulary {
  readonly unit: VocabularyUnit;
  private readonly symbols: readonly string[];
  private readonly counts: readonly number[];
  private readonly ids: Map<string, number>;

  private constructor(unit: VocabularyUnit, symbols: string[], counts: number[]) {
    this.unit = unit;
    this.symbols = Object.freeze([...SPECIAL_TOKENS, ...symbols]);
    this.counts = Object.freeze([0, 0, 0, ...counts]);
    this.ids = new Map();
    this.symbols.forEach((s, i) => {
      if (this.ids.has(s)) throw new Error(`Vocabulary: duplicate symbol ${JSON.stringify(s)}`);
      this.ids.set(s, i);
    });
  }

  /**
   * Build from text: specials first, then symbols by descending frequency, ties by code point.
   * Symbols spelled like a special token are not added (they encode to that token).
   */
  static fromText(text: string, options: VocabularyOptions): Vocabulary {
    const { unit } = options;
    if (unit !== 'char' && unit !== 'word') throw new Error(`Vocabulary: unknown unit ${String(unit)}`);
    const minCount = options.minCount ?? 1;
    const maxSize = options.maxSize ?? Infinity;
    if (!(maxSize >= SPECIAL_TOKENS.length)) {
      throw new RangeError(`Vocabulary: maxSize must be at least ${SPECIAL_TOKENS.length}, got ${maxSize}`);
    }
    const freq = new Map<string, number>();
    for (const s of tokenize(text, unit)) freq.set(s, (freq.get(s) ?? 0) + 1);
    const entries = [...freq]
      .filter(([s, n]) => n >= minCount && !SPECIAL_TOKENS.includes(s))
      .sort((a, b) => b[1] - a[1] || compareCodePoints(a[0], b[0]))
      .slice(0, maxSize - SPECIAL_TOKENS.length);
    return new Vocabulary(
      unit,
      entries.map((e) => e[0]),
      entries.map((e) => e[1]),
    );
  }

  static fromJSON(json: VocabularyJSON | string): Vocabulary {
    const j = (typeof json === 'string' ? JSON.parse(json) : json) as Partial<VocabularyJSON>;
    if (j === null || typeof j !== 'object' || j.format !== 'seqc-vocabulary' || j.version !== 1) {
      throw new Error('Vocabulary.fromJSON: not a seqc-vocabulary (version 1) object');
    }
    if (j.unit !== 'char' && j.unit !== 'word') throw new Error(`Vocabulary.fromJSON: bad unit ${String(j.unit)}`);
    if (
      !Array.isArray(j.specials) ||
      j.specials.length !== SPECIAL_TOKENS.length ||
      j.specials.some((s, i) => s !== SPECIAL_TOKENS[i])
    ) {
      throw new Error(`Vocabulary.fromJSON: specials must be ${JSON.stringify(SPECIAL_TOKENS)}`);
    }
    if (!Array.isArray(j.symbols) || j.symbols.some((s) => typeof s !== 'string')) {
      throw new Error('Vocabulary.fromJSON: symbols must be an array of strings');
    }
    const counts = j.counts ?? j.symbols.map(() => 0);
    if (!Array.isArray(counts) || counts.length !== j.symbols.length || counts.some((n) => typeof n !== 'number')) {
      throw new Error('Vocabulary.fromJSON: counts must be numbers, one per symbol');
    }
    return new Vocabulary(j.unit, [...j.symbols], [...counts]);
  }

  toJSON(): VocabularyJSON {
    return {
      format: 'seqc-vocabulary',
      version: 1,
      unit: this.unit,
      specials: [...SPECIAL_TOKENS],
      symbols: this.symbols.slice(SPECIAL_TOKENS.length),
      counts: this.counts.slice(SPECIAL_TOKENS.length),
    };
  }

  /** Number of ids, special tokens included. */
  get size(): number {
    return this.symbols.length;
  }

  get padId(): number {
    return PAD_ID;
  }
  get unkId(): number {
    return UNK_ID;
  }
  get eosId(): number {
    return EOS_ID;
  }

  /** The id of a symbol, or UNK's id when it is not in the vocabulary. */
  idOf(symbol: string): number {
    return this.ids.get(symbol) ?? UNK_ID;
  }

  has(symbol: string): boolean {
    return this.ids.has(symbol);
  }

  /** The symbol of an id; throws on ids out of range. */
  symbolOf(id: number): string {
    const s = Number.isInteger(id) ? this.symbols[id] : undefined;
    if (s === undefined) throw new RangeError(`Vocabulary: id ${id} out of range [0, ${this.size})`);
    return s;
  }

  /** How often a symbol occurred in the text the vocabulary was built from (0 for specials). */
  countOf(symbol: string): number {
    const id = this.ids.get(symbol);
    return id === undefined ? 0 : this.counts[id]!;
  }

  /** Encode text; symbols not in the vocabulary become UNK. `eos` appends an EOS id. */
  encode(text: string, options: { eos?: boolean } = {}): Int32Array {
    const syms = tokenize(text, this.unit);
    const out = new Int32Array(syms.length + (options.eos ? 1 : 0));
    for (let i = 0; i < syms.length; i++) out[i] = this.ids.get(syms[i]!) ?? UNK_ID;
    if (options.eos) out[syms.length] = EOS_ID;
    return out;
  }

  /**
   * Decode ids: characters are concatenated, words joined by single spaces. PAD is dropped;
   * UNK and EOS render as their names unless `skipSpecial` drops them too.
   */
  decode(ids: ArrayLike<number> | Iterable<number>, options: { skipSpecial?: boolean } = {}): string {
    const parts: string[] = [];
    for (const id of Array.from(ids)) {
      if (id === PAD_ID || (options.skipSpecial && id < SPECIAL_TOKENS.length)) continue;
      parts.push(this.symbolOf(id));
    }
    return parts.join(this.unit === 'char' ? '' : ' ');
  }
}

/** One language-modelling window: `x` and `y` are `[steps, batch]` row-major (time-major). */
export interface LmBatch {
  x: Int32Array;
  /** `y[t, b]` is the token after `x[t, b]` in stream `b`. */
  y: Int32Array;
  /** Rows in this window (equals the requested `steps` except maybe for the last window). */
  steps: number;
  batch: number;
  /** Position of row 0 within each stream. */
  offset: number;
}

export interface BatchifyOptions {
  /** Drop a final window shorter than `steps` (for fixed-shape kernels). Default false. */
  dropLast?: boolean;
}

/** The per-stream length `batchify` uses: the stream trimmed to a multiple of `batch`. */
export function streamLength(tokens: number, batch: number): number {
  return Math.floor(tokens / batch);
}

/** How many windows `batchify` yields. */
export function batchCount(tokens: number, batch: number, steps: number, options: BatchifyOptions = {}): number {
  const usable = streamLength(tokens, batch) - 1; // the last position of a stream only serves as a target
  if (usable <= 0) return 0;
  return options.dropLast ? Math.floor(usable / steps) : Math.ceil(usable / steps);
}

/**
 * Split a token stream into `batch` contiguous streams (stream `b` is
 * `ids[b*L .. (b+1)*L)` with `L = floor(n / batch)`, the remainder dropped, as in PyTorch's
 * word_language_model) and walk them `steps` at a time. Window `k` holds rows
 * `t = k*steps .. k*steps+steps-1`: `x[t', b] = stream_b[t]`, `y[t', b] = stream_b[t + 1]`, so the next
 * window continues every stream where the last one stopped (carry the hidden state across).
 */
export function* batchify(
  ids: Int32Array,
  batch: number,
  steps: number,
  options: BatchifyOptions = {},
): Generator<LmBatch, void, undefined> {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batchify: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`batchify: steps must be a positive integer, got ${steps}`);
  const L = streamLength(ids.length, batch);
  if (L < 2) {
    throw new RangeError(`batchify: ${ids.length} tokens are too few for ${batch} streams (each needs at least 2)`);
  }
  for (let offset = 0; offset < L - 1; offset += steps) {
    const T = Math.min(steps, L - 1 - offset);
    if (T < steps && options.dropLast) return;
    const x = new Int32Array(T * batch);
    const y = new Int32Array(T * batch);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < batch; b++) {
        const src = b * L + offset + t;
        x[t * batch + b] = ids[src]!;
        y[t * batch + b] = ids[src + 1]!;
      }
    }
    yield { x, y, steps: T, batch, offset };
  }
}
