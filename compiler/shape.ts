/**
 * Symbolic dimensions: sums of integer multiples of products of size variables
 * (`4*H`, `H + I`, `2*H*W`). Kept canonical so that two shapes are equal exactly when
 * their printed forms are equal.
 */

/** A product of size variables, as sorted names joined by `*` ('' for the constant term). */
type Monomial = string;

export class Dim {
  /** monomial -> coefficient, no zero coefficients */
  readonly #terms: ReadonlyMap<Monomial, number>;
  #text: string | undefined;

  private constructor(terms: Map<Monomial, number>) {
    for (const [m, c] of terms) if (c === 0) terms.delete(m);
    this.#terms = terms;
  }

  static of(value: number | string): Dim {
    if (typeof value === 'number') return new Dim(new Map([['', value]]));
    return new Dim(new Map([[value, 1]]));
  }

  get terms(): ReadonlyMap<Monomial, number> {
    return this.#terms;
  }

  add(other: Dim): Dim {
    // immutable, so a zero addend can return the other operand itself (code generation adds
    // zero offsets at every element)
    if (other.#terms.size === 0) return this;
    if (this.#terms.size === 0) return other;
    const terms = new Map(this.#terms);
    for (const [m, c] of other.#terms) terms.set(m, (terms.get(m) ?? 0) + c);
    return new Dim(terms);
  }

  sub(other: Dim): Dim {
    return this.add(other.scale(-1));
  }

  scale(k: number): Dim {
    return new Dim(new Map([...this.#terms].map(([m, c]) => [m, c * k])));
  }

  mul(other: Dim): Dim {
    let result = Dim.of(0);
    for (const [ma, ca] of this.#terms) {
      for (const [mb, cb] of other.#terms) {
        const names = [...splitMonomial(ma), ...splitMonomial(mb)].sort();
        result = result.add(new Dim(new Map([[names.join('*'), ca * cb]])));
      }
    }
    return result;
  }

  /** The same polynomial with some size variables replaced by dimensions (a called cell's sizes). */
  substitute(values: ReadonlyMap<string, Dim>): Dim {
    let result = Dim.of(0);
    for (const [m, c] of this.#terms) {
      let term = Dim.of(c);
      for (const v of splitMonomial(m)) term = term.mul(values.get(v) ?? Dim.of(v));
      result = result.add(term);
    }
    return result;
  }

  /** The terms with positive coefficients, and the negated terms with negative ones. */
  signParts(): { positive: Dim; negative: Dim } {
    const positive = new Map<Monomial, number>();
    const negative = new Map<Monomial, number>();
    for (const [m, c] of this.#terms) (c > 0 ? positive : negative).set(m, Math.abs(c));
    return { positive: new Dim(positive), negative: new Dim(negative) };
  }

  /**
   * Exact division by a product of sizes and a whole number (`C*X*Y + H*X*Y` by `X*Y` is
   * `C + H`), or undefined when some term is not a multiple of it or the divisor has several terms.
   */
  divide(divisor: Dim): Dim | undefined {
    const [[monomial, coefficient] = []] = [...divisor.#terms];
    if (divisor.#terms.size !== 1 || monomial === undefined || coefficient === undefined) return undefined;
    let result = Dim.of(0);
    for (const [m, c] of this.#terms) {
      const names = splitMonomial(m);
      for (const v of splitMonomial(monomial)) {
        const at = names.indexOf(v);
        if (at < 0) return undefined;
        names.splice(at, 1);
      }
      if (c % coefficient !== 0) return undefined;
      result = result.add(new Dim(new Map([[names.join('*'), c / coefficient]])));
    }
    return result;
  }

  /** Exact division by an integer, or undefined when some coefficient is not a multiple. */
  divExact(k: number): Dim | undefined {
    if (!Number.isInteger(k) || k === 0) return undefined;
    const terms = new Map<Monomial, number>();
    for (const [m, c] of this.#terms) {
      if (c % k !== 0) return undefined;
      terms.set(m, c / k);
    }
    return new Dim(terms);
  }

  /**
   * The constant k with this = k * other whatever the sizes (`9*C + 9*H` is 9 times `C + H`),
   * or undefined when the two are not proportional.
   */
  ratio(other: Dim): number | undefined {
    const [monomial, coefficient] = [...other.#terms][0] ?? [];
    if (monomial === undefined || coefficient === undefined) return undefined;
    const k = (this.#terms.get(monomial) ?? 0) / coefficient;
    return other.scale(k).equals(this) ? k : undefined;
  }

  /** True when this is at most `other` for every positive value of the sizes. */
  provablyAtMost(other: Dim): boolean {
    return [...other.sub(this).#terms.values()].every((c) => c >= 0);
  }

  equals(other: Dim): boolean {
    return this.toString() === other.toString();
  }

  /** The constant value when no size variable is involved. */
  get constant(): number | undefined {
    if (this.#terms.size === 0) return 0;
    if (this.#terms.size === 1 && this.#terms.has('')) return this.#terms.get('')!;
    return undefined;
  }

  variables(): string[] {
    const names = new Set<string>();
    for (const m of this.#terms.keys()) for (const v of splitMonomial(m)) names.add(v);
    return [...names].sort();
  }

  evaluate(sizes: Readonly<Record<string, number>>): number {
    let total = 0;
    for (const [m, c] of this.#terms) {
      let product = c;
      for (const v of splitMonomial(m)) {
        const value = sizes[v];
        if (value === undefined) throw new Error(`size ${v} is not bound`);
        product *= value;
      }
      total += product;
    }
    return total;
  }

  /** Canonical text: higher-degree terms first, then by name, constant last (`4*H + I + 2`). */
  toString(): string {
    // a Dim never changes, and code generation asks for the same texts many times over
    this.#text ??= this.#render((m, c) => (m === '' ? String(c) : c === 1 ? m : `${c}*${m}`));
    return this.#text;
  }

  /** The same polynomial as an expression over other names (e.g. WGSL constants). */
  render(name: (variable: string) => string, literal: (n: number) => string): string {
    return this.#render((m, c) => {
      if (m === '') return literal(c);
      const factors = splitMonomial(m).map(name);
      return c === 1 ? factors.join(' * ') : [literal(c), ...factors].join(' * ');
    });
  }

  #render(term: (monomial: Monomial, coefficient: number) => string): string {
    const entries = [...this.#terms].sort(([a], [b]) => compareMonomials(a, b));
    if (entries.length === 0) return term('', 0);
    let text = '';
    for (const [m, c] of entries) {
      const piece = term(m, Math.abs(c));
      if (text === '') text = c < 0 ? `-${piece}` : piece;
      else text += c < 0 ? ` - ${piece}` : ` + ${piece}`;
    }
    return text;
  }
}

function splitMonomial(m: Monomial): string[] {
  return m === '' ? [] : m.split('*');
}

function compareMonomials(a: Monomial, b: Monomial): number {
  const da = splitMonomial(a).length;
  const db = splitMonomial(b).length;
  if (da !== db) return db - da;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A shape of a per-example value; the batch dimension is implicit (see `Type.batched`). */
export type Shape = readonly Dim[];

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d.equals(b[i]!));
}

export function formatShape(shape: Shape): string {
  return `[${shape.map(String).join(', ')}]`;
}

/** The number of elements, symbolically. */
export function shapeSize(shape: Shape): Dim {
  return shape.reduce((acc, d) => acc.mul(d), Dim.of(1));
}

export function evaluateShape(shape: Shape, sizes: Readonly<Record<string, number>>): number[] {
  return shape.map((d) => d.evaluate(sizes));
}
