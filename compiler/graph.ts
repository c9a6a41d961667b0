/**
 * Builds step graphs with structural sharing (the same op on the same operands is one value)
 * and types every new equation by the registry's shape rule.
 */
import type { Span } from '../dsl/span.js';
import type { Eqn } from './ir.js';
import { type Attrs, type OpName, SHAPE_RULES, type Type } from './ops.js';

export class GraphBuilder {
  readonly eqns: Eqn[] = [];
  readonly #interned = new Map<string, number>();

  emitTyped(op: OpName, args: readonly number[], attrs: Attrs, type: Type, span?: Span): number {
    const key = JSON.stringify([
      op, args, attrs.name, attrs.lag, attrs.value, attrs.start?.toString(), attrs.size?.toString(), attrs.p, attrs.stream, attrs.perStep,
      attrs.height?.toString(), attrs.width?.toString(), attrs.kernel, attrs.shape?.map(String),
    ]);
    const existing = this.#interned.get(key);
    if (existing !== undefined) return existing;
    const id = this.eqns.length;
    this.eqns.push({ id, op, args, attrs, type, ...(span ? { span } : {}) });
    this.#interned.set(key, id);
    return id;
  }

  /** An op whose operands are already well-typed; a shape failure here is a compiler bug. */
  emit(op: OpName, args: readonly number[], attrs: Attrs = {}): number {
    const type = SHAPE_RULES[op](args.map((a) => this.type(a)), attrs);
    if (typeof type === 'string') throw new Error(`internal: ${op} of ${args.map((a) => `%${a}`).join(', ')}: expected ${type}`);
    return this.emitTyped(op, args, attrs, type);
  }

  constant(value: number): number {
    return this.emitTyped('const', [], { value }, { shape: [], batched: false });
  }

  type(id: number): Type {
    return this.eqns[id]!.type;
  }
}
