/**
 * Linear recurrences: a state update that is affine in that state's previous value,
 * h[t] = a[t] * h[t-1] + b[t] elementwise, with a and b reading no state (minGRU, minLSTM, a
 * leaky integrator, a masked update of any of them). Such a recurrence needs no step loop:
 * composing the maps h -> a * h + b is associative, so a parallel scan over time computes
 * every h[t] (compiler/wgsl-scan.ts). Nothing here is specific to any cell: the form is
 * read off the step graph, op by op.
 */
import type { CellProgram, Eqn } from './ir.js';
import { shapeEquals } from './shape.js';

/** How the coefficient and offset of an affine form are built: WGSL text, or nothing but a check. */
export interface AffineAlgebra<T> {
  /** a value that reads no state */
  free(id: number): T;
  one: T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  neg(a: T): T;
}

/** a * h[t-1] + b; a term left out is zero. */
export interface Affine<T> {
  readonly a?: T;
  readonly b?: T;
}

/** Whether each value reads no state at any lag. */
export function stateFreeValues(eqns: readonly Eqn[]): boolean[] {
  const free = eqns.map(() => true);
  for (const e of eqns) free[e.id] = e.op !== 'state' && e.args.every((a) => free[a]);
  return free;
}

/**
 * Value `id` as a * state[t-1] + b, elementwise, or undefined when it is not of that form
 * (it reads another state, an older step, or the state through anything but + - * / and
 * negation by state-free values).
 */
export function affineInState<T>(eqns: readonly Eqn[], id: number, state: string, algebra: AffineAlgebra<T>, free = stateFreeValues(eqns)): Affine<T> | undefined {
  const memo = new Map<number, Affine<T> | undefined>();
  const plus = (x: T | undefined, y: T | undefined, negate: boolean): T | undefined =>
    x === undefined ? (y === undefined ? undefined : negate ? algebra.neg(y) : y) : y === undefined ? x : negate ? algebra.sub(x, y) : algebra.add(x, y);
  const times = (x: T | undefined, f: T): T | undefined => (x === undefined ? undefined : x === algebra.one ? f : algebra.mul(x, f));
  const form = (v: number): Affine<T> | undefined => {
    if (memo.has(v)) return memo.get(v);
    const e = eqns[v]!;
    let result: Affine<T> | undefined;
    if (free[v]) result = { b: algebra.free(v) };
    else if (e.op === 'state') result = e.attrs.name === state && e.attrs.lag === 1 ? { a: algebra.one } : undefined;
    else if (e.op === 'add' || e.op === 'sub') {
      const [x, y] = e.args.map(form);
      result = x && y ? { a: plus(x.a, y.a, e.op === 'sub'), b: plus(x.b, y.b, e.op === 'sub') } : undefined;
    } else if (e.op === 'mul') {
      const [p, q] = e.args as [number, number];
      const [scaled, factor] = free[p] ? [q, p] : free[q] ? [p, q] : [undefined, undefined];
      const x = scaled === undefined ? undefined : form(scaled);
      const f = factor === undefined ? undefined : algebra.free(factor);
      result = x && f !== undefined ? { a: times(x.a, f), b: times(x.b, f) } : undefined;
    } else if (e.op === 'div' && free[e.args[1]!]) {
      const x = form(e.args[0]!);
      const d = algebra.free(e.args[1]!);
      result = x ? { a: x.a === undefined ? undefined : algebra.div(x.a, d), b: x.b === undefined ? undefined : algebra.div(x.b, d) } : undefined;
    } else if (e.op === 'neg') {
      const x = form(e.args[0]!);
      result = x ? { a: x.a === undefined ? undefined : algebra.neg(x.a), b: x.b === undefined ? undefined : algebra.neg(x.b) } : undefined;
    }
    memo.set(v, result);
    return result;
  };
  return form(id);
}

const CHECK: AffineAlgebra<true> = { free: () => true, one: true, add: () => true, sub: () => true, mul: () => true, div: () => true, neg: () => true };

/**
 * Whether a program's whole recurrence is a set of independent linear ones: every state is
 * read only one step back, and every update, as computed in the step (the `stepValues` the
 * schedule keeps inside the loop must be the updates themselves), is affine in its own state
 * with the same shape. Readouts may read anything: they run after the loop.
 */
export function isLinearRecurrence(program: CellProgram, stepValues: readonly number[]): boolean {
  if (program.states.length === 0 || program.states.some((s) => s.maxLag !== 1)) return false;
  const updates = new Set(program.updates.map((u) => u.value));
  if (stepValues.some((v) => !updates.has(v))) return false;
  const free = stateFreeValues(program.eqns);
  return program.updates.every((u) => {
    const state = program.states.find((s) => s.name === u.name)!;
    const value = program.eqns[u.value]!;
    if (!value.type.batched || !shapeEquals(value.type.shape, state.shape)) return false;
    // an update that reads another state's update (h from c[t]) reads that state: it is not affine in its own alone
    return affineInState(program.eqns, u.value, u.name, CHECK, free) !== undefined;
  });
}
