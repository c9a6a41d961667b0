/**
 * Typed lowering: checked AST to IR. Every expression becomes primitive ops through the
 * registry's shape rules, so a shape error here reads like a parse error, located at the
 * expression, with both shapes written symbolically. Composites (softmax, split) expand
 * into primitives here.
 */
import type { Expr } from '../dsl/ast.js';
import { type CheckedCell, dropoutProbability } from '../dsl/check.js';
import { SeqError } from '../dsl/diagnostics.js';
import type { Span } from '../dsl/span.js';
import type { Binding, CellProgram, ParamDecl, SizeDecl, StateDecl } from './ir.js';
import { type Instance, inlineCell, instanceName } from './inline.js';
import { GraphBuilder } from './graph.js';
import { type Attrs, type BinaryOp, type OpName, SHAPE_RULES, type Type, type UnaryOp } from './ops.js';
import { conv2dKernel } from './conv2d.js';
import { Dim, formatShape } from './shape.js';

const UNARY_FUNCTIONS: Readonly<Record<string, UnaryOp>> = {
  sigmoid: 'sigmoid', tanh: 'tanh', relu: 'relu', exp: 'exp', log: 'log', sqrt: 'sqrt', abs: 'abs',
};
const BINARY_FUNCTIONS: Readonly<Record<string, BinaryOp>> = { max: 'max', min: 'min', pow: 'pow' };
const OPERATORS: Readonly<Record<string, OpName>> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '@': 'matmul' };

/** Source text of an expression, for messages that name the operands. */
function text(source: string, expr: Expr): string {
  const t = source.slice(expr.span.start, expr.span.end).replace(/\s+/g, ' ');
  return t.length > 40 ? `${t.slice(0, 37)}...` : t;
}

class Lowering {
  readonly graph = new GraphBuilder();
  /** value ids of let names and of values assigned at the current step */
  readonly bound = new Map<string, number>();
  /** the next dropout call site's stream number */
  streams = 0;

  /** params, states, state updates and sizes of the cells this one calls */
  readonly instances: Instance[] = [];
  /** the name of the let or output being lowered: a cell call's instance is named after it */
  prefix = '';

  constructor(readonly cell: CheckedCell, readonly source: string, readonly callees: ReadonlyMap<string, CellProgram> = new Map()) {}

  apply(op: OpName, args: readonly number[], span: Span, describe: () => string, attrs: Attrs = {}, hint?: string): number {
    const type = SHAPE_RULES[op](args.map((a) => this.graph.type(a)), attrs);
    if (typeof type === 'string') {
      // elementwise rules answer "shapes A and B differ"; the others say what they expected
      throw new SeqError(span, type.startsWith('shapes ') ? `shape mismatch in ${describe()}: ${type}` : `${describe()}: expected ${type}`, hint);
    }
    return this.graph.emitTyped(op, args, attrs, type, span);
  }

  lower(): CellProgram {
    const updates: Binding[] = [];
    const readouts: Binding[] = [];
    for (const d of this.cell.definitions) {
      this.prefix = d.kind === 'let' ? d.names[0]! : d.name;
      if (d.kind === 'let') {
        if (d.names.length === 1) this.bound.set(d.names[0]!, this.expr(d.value));
        else this.split(d.value as Expr & { kind: 'call' }, d.names);
        continue;
      }
      const value = this.expr(d.value);
      const type = this.graph.type(value);
      if (d.kind === 'update') {
        const state = this.cell.states.get(d.name)!;
        const want = state.value.shape;
        if (type.shape.length !== want.length || !type.shape.every((dim, i) => dim.equals(want[i]!))) {
          throw new SeqError(d.value.span, `shape mismatch: state ${d.name} is ${formatShape(want)} but ${text(this.source, d.value)} is ${formatShape(type.shape)}`, `the new value of ${d.name} must have the shape declared at \`state ${d.name}\``);
        }
        updates.push({ name: d.name, value });
      } else {
        readouts.push({ name: d.name, value });
      }
      this.bound.set(`${d.name}[t]`, value);
    }
    const stateOrder = [...this.cell.states.keys()];
    updates.sort((a, b) => stateOrder.indexOf(a.name) - stateOrder.indexOf(b.name));
    const sizes: SizeDecl[] = this.cell.sizes.map((s) => ({ name: s.name, ...(s.default === undefined ? {} : { default: s.default }), span: s.span }));
    const params: ParamDecl[] = [...this.cell.params.values()].map((p) => ({ name: p.name, shape: p.value.shape, init: p.value.init }));
    const states: StateDecl[] = [...this.cell.states.values()].map((s) => ({ name: s.name, shape: s.value.shape, initial: s.value.initial, maxLag: Math.max(1, s.value.maxLag) }));
    for (const instance of this.instances) {
      // a called cell's free sizes are the caller's sizes of the same name; the caller's default wins
      for (const size of instance.sizes) if (!sizes.some((s) => s.name === size.name)) sizes.push(size);
      params.push(...instance.params);
      states.push(...instance.states);
      updates.push(...instance.updates);
    }
    return {
      name: this.cell.node.name.name,
      sizes,
      inputs: [...this.cell.inputs.values()].map((i) => ({ name: i.name, shape: i.value, ...(this.cell.onehot.has(i.name) ? { onehot: true } : {}), ...(this.cell.masks.has(i.name) ? { binary: true } : {}) })),
      params,
      states,
      eqns: this.graph.eqns,
      updates,
      readouts,
      outputs: this.cell.outputs,
    };
  }

  split(call: Expr & { kind: 'call' }, names: readonly string[]): void {
    const parts = (call.args[1] as Expr & { kind: 'number' }).value;
    if (parts !== names.length) {
      throw new SeqError(call.args[1]!.span, `split into ${parts} parts, but ${names.length} names are bound`, `write split(..., ${names.length})`);
    }
    const whole = this.expr(call.args[0]!);
    const type = this.graph.type(whole);
    if (type.shape.length === 0) throw new SeqError(call.args[0]!.span, 'split expects a vector or a matrix (split along its columns), got a number');
    const size = type.shape.at(-1)!.divExact(parts);
    if (!size) {
      throw new SeqError(call.args[0]!.span, `cannot split ${formatShape(type.shape)} into ${parts} equal parts`, `make its size a multiple of ${parts}, e.g. [${parts}*H]`);
    }
    names.forEach((name, i) => {
      this.bound.set(name, this.graph.emitTyped('slice', [whole], { start: size.scale(i), size }, { shape: [...type.shape.slice(0, -1), size], batched: type.batched }, call.span));
    });
  }

  expr(e: Expr): number {
    switch (e.kind) {
      case 'number':
        return this.graph.emitTyped('const', [], { value: e.value }, { shape: [], batched: false }, e.span);
      case 'name': {
        const bound = this.bound.get(e.name);
        if (bound !== undefined) return bound;
        const param = this.cell.params.get(e.name);
        if (param) return this.graph.emitTyped('param', [], { name: e.name }, { shape: param.value.shape, batched: false }, e.span);
        // a size read as a number: its value is bound with the sizes
        return this.graph.emitTyped('dim', [], { size: Dim.of(e.name) }, { shape: [], batched: false }, e.span);
      }
      case 'index': {
        const input = this.cell.inputs.get(e.name);
        if (input) return this.graph.emitTyped('input', [], { name: e.name }, { shape: input.value, batched: true }, e.span);
        const lag = e.index.kind === 'name' ? 0 : (e.index as Expr & { kind: 'binary' }).right.kind === 'number' ? ((e.index as Expr & { kind: 'binary' }).right as Expr & { kind: 'number' }).value : 0;
        if (lag === 0) return this.bound.get(`${e.name}[t]`)!;
        const state = this.cell.states.get(e.name)!;
        return this.graph.emitTyped('state', [], { name: e.name, lag }, { shape: state.value.shape, batched: true }, e.span);
      }
      case 'neg':
        return this.apply('neg', [this.expr(e.operand)], e.span, () => 'negation');
      case 'concat': {
        const parts = e.parts.map((p) => this.expr(p));
        return this.apply('concat', parts, e.span, () => `concatenation [${e.parts.map((p) => text(this.source, p)).join(', ')}]`, {}, '[a, b] joins vectors end to end; matrices and numbers cannot be concatenated');
      }
      case 'binary': {
        let left = this.expr(e.left);
        let right = this.expr(e.right);
        const op = OPERATORS[e.op]!;
        if (op === 'matmul' && this.graph.type(left).shape.length === 1 && this.graph.type(right).shape.length === 2) {
          // v @ M is M^T @ v: attention's weighted sum of value rows
          [left, right] = [this.graph.emitTyped('transpose', [right], {}, SHAPE_RULES.transpose([this.graph.type(right)], {}) as Type, e.right.span), left];
        } else if (op !== 'matmul') {
          left = this.broadcastRows(left, right, e.left.span);
          right = this.broadcastRows(right, left, e.right.span);
        }
        const lt = this.graph.type(left);
        const rt = this.graph.type(right);
        const type = SHAPE_RULES[op]([lt, rt], {});
        if (typeof type === 'string') {
          const l = text(this.source, e.left);
          const r = text(this.source, e.right);
          const message = e.op === '@'
            ? `shape mismatch in ${l} @ ${r}: expected ${type}`
            : `shape mismatch: ${l} is ${formatShape(lt.shape)} but ${r} is ${formatShape(rt.shape)}`;
          const hint = e.op === '@'
            ? lt.shape.length === 2 && rt.shape.length === 1 ? `${l} has ${lt.shape[1]} columns; give it shape [${lt.shape[0]}, ${rt.shape[0]}] or multiply a vector of ${lt.shape[1]} elements`
              : lt.shape.length === 1 && rt.shape.length === 1 ? 'for the dot product of two vectors write sum(a * b); @ multiplies a matrix and a vector, M @ v or v @ M'
              : 'write M @ v or v @ M: a matrix (a param, or a per-step [S, D] input) and a vector'
            : `operands of ${e.op} must have the same shape, or one must be a number`;
          throw new SeqError(e.op === '@' ? e.span : e.span, message, hint);
        }
        return this.graph.emitTyped(op, [left, right], {}, type, e.span);
      }
      case 'call':
        return this.call(e);
      case 'apply':
        return this.stack(e);
    }
  }

  /**
   * A vector operand of an elementwise op with a matrix [R, C] of C columns, repeated as
   * each of its rows: the outer product of R ones with it, so its gradient sums over rows.
   */
  broadcastRows(operand: number, other: number, span: Span): number {
    const [v, m] = [this.graph.type(operand), this.graph.type(other)];
    if (v.shape.length !== 1 || m.shape.length !== 2 || !v.shape[0]!.equals(m.shape[1]!)) return operand;
    const one = this.graph.emitTyped('const', [], { value: 1 }, { shape: [], batched: false }, span);
    const ones = this.graph.emitTyped('broadcast', [one], { size: m.shape[0]! }, { shape: [m.shape[0]!], batched: false }, span);
    return this.graph.emitTyped('outer', [ones, operand], {}, { shape: m.shape, batched: v.batched }, span);
  }

  /** A call of a cell defined above, inlined under this definition's name. */
  instance(callee: CellProgram, args: readonly number[], prefix: string, span: Span): number {
    const instance = inlineCell(this.graph, callee, args, prefix, this.streams, span);
    this.streams += instance.streams;
    this.instances.push(instance);
    return instance.outputs[0]!;
  }

  /** `stack(n, Cell)(v)`: layer l (named prefix.l) reads layer l-1's output at this step. */
  stack(e: Expr & { kind: 'apply' }): number {
    const layers = (e.options[0] as Expr & { kind: 'number' }).value;
    const callee = this.callees.get((e.options[1] as Expr & { kind: 'name' }).name)!;
    let value = this.expr(e.args[0]!);
    for (let l = 0; l < layers; l++) value = this.instance(callee, [value], instanceName(this.prefix, String(l)), e.span);
    return value;
  }

  call(e: Expr & { kind: 'call' }): number {
    if (e.callee === 'split') {
      throw new SeqError(e.span, 'split gives several values; bind them with let', 'write let a, b = split(z, 2)');
    }
    if (e.callee === 'dropout' || e.callee === 'recurrent_dropout') return this.dropout(e);
    if (e.callee === 'conv2d') return this.conv2d(e);
    if (e.callee === 'repeat') return this.repeat(e);
    const args = e.args.map((a) => this.expr(a));
    const callee = this.callees.get(e.callee);
    if (callee && UNARY_FUNCTIONS[e.callee] === undefined && BINARY_FUNCTIONS[e.callee] === undefined) return this.instance(callee, args, this.prefix, e.span);
    const unary = UNARY_FUNCTIONS[e.callee];
    if (unary) return this.apply(unary, args, e.span, () => e.callee);
    const binary = BINARY_FUNCTIONS[e.callee];
    if (binary) {
      return this.apply(binary, args, e.span, () => `${e.callee}(${e.args.map((a) => text(this.source, a)).join(', ')})`, {}, `the arguments of ${e.callee} must have the same shape, or one must be a number`);
    }
    const x = args[0]!;
    const vector = (): void => {
      const t = this.graph.type(x);
      if (t.shape.length !== 1) throw new SeqError(e.args[0]!.span, `${e.callee} expects a vector, got ${formatShape(t.shape)}`);
    };
    vector();
    if (e.callee === 'sum') return this.apply('reduce_sum', [x], e.span, () => 'sum');
    // softmax(x) = exp(x - max x) / sum exp(x - max x): a composition, so autodiff and fusion see primitives
    const max = this.apply('reduce_max', [x], e.span, () => 'softmax');
    const shifted = this.apply('exp', [this.apply('sub', [x, max], e.span, () => 'softmax')], e.span, () => 'softmax');
    const total = this.apply('reduce_sum', [shifted], e.span, () => 'softmax');
    return this.apply('div', [shifted, total], e.span, () => 'softmax');
  }

  /**
   * A dimension written as an expression: a size, a whole number, or a product of them (`Y*X`),
   * as the grid of a convolution and the count of a repeat are given.
   */
  dimension(e: Expr, what: string): Dim {
    if (e.kind === 'number' && Number.isInteger(e.value) && e.value >= 1) return Dim.of(e.value);
    if (e.kind === 'name' && this.cell.sizes.some((s) => s.name === e.name)) return Dim.of(e.name);
    if (e.kind === 'binary' && e.op === '*') return this.dimension(e.left, what).mul(this.dimension(e.right, what));
    throw new SeqError(e.span, `${what} is a size, a whole number or a product of them, got ${text(this.source, e)}`, 'name a size that a shape uses, e.g. Y, or write a number such as 5');
  }

  /**
   * `conv2d(W, v, height, width)`: v a feature map of Cin channels over a height x width grid,
   * [Cin*height*width], and W a kernel [Cout, Cin*K*K]; K is read off their shapes.
   */
  conv2d(e: Expr & { kind: 'call' }): number {
    const [w, v] = [this.expr(e.args[0]!), this.expr(e.args[1]!)];
    const grid = { height: this.dimension(e.args[2]!, 'the height of a conv2d map'), width: this.dimension(e.args[3]!, 'the width of a conv2d map') };
    const kernel = conv2dKernel(this.graph.type(w), this.graph.type(v), grid);
    const describe = () => `conv2d(${e.args.map((a) => text(this.source, a)).join(', ')})`;
    // a kernel that does not fit gets no size: the shape rule then says what was expected
    const attrs = typeof kernel === 'number' ? { ...grid, kernel } : grid;
    const { height, width } = grid;
    const hint = `a map of c channels over the ${height} x ${width} grid is a vector [c*${height}*${width}], channel after channel; its kernel is a matrix [out channels, c*K*K] for an odd K`;
    return this.apply('conv2d', [w, v], e.span, describe, attrs, hint);
  }

  /** `repeat(v, n)`: each element of vector v, n times in a row (a per-channel bias over n pixels): [C] to [C*n]. */
  repeat(e: Expr & { kind: 'call' }): number {
    const v = this.expr(e.args[0]!);
    const n = this.dimension(e.args[1]!, 'the count of repeat');
    const t = this.graph.type(v);
    if (t.shape.length !== 1) throw new SeqError(e.args[0]!.span, `repeat expects a vector, got ${t.shape.length ? formatShape(t.shape) : 'a number'}`, 'a number needs no repeat: it broadcasts over any vector');
    const describe = () => 'repeat';
    const ones = this.apply('broadcast', [this.graph.emitTyped('const', [], { value: 1 }, { shape: [], batched: false }, e.span)], e.span, describe, { size: n });
    // row c of outer(v, ones) is n copies of v[c]; read row after row it is the repeat
    const rows = this.apply('outer', [v, ones], e.span, describe);
    return this.apply('reshape', [rows], e.span, describe, { shape: [t.shape[0]!.mul(n)] });
  }

  /** Inverted dropout: the operand times a mask of 0 and 1/(1-p), drawn for this call site alone. */
  dropout(e: Expr & { kind: 'call' }): number {
    const x = this.expr(e.args[0]!);
    const t = this.graph.type(x);
    if (t.shape.length !== 1) {
      throw new SeqError(e.args[0]!.span, `${e.callee} expects a vector, got ${t.shape.length ? formatShape(t.shape) : 'a number'}`, `apply ${e.callee} to a vector such as x[t] or h[t-1]`);
    }
    const attrs = { p: dropoutProbability(e), stream: this.streams++, perStep: e.callee === 'dropout', size: t.shape[0]! };
    const mask = this.graph.emitTyped('dropout_mask', [], attrs, { shape: [attrs.size], batched: true }, e.span);
    return this.apply('mul', [x, mask], e.span, () => e.callee);
  }
}

/** `callees`: the cells above this one, lowered, which it may call. */
export function lowerCell(cell: CheckedCell, source: string, callees: ReadonlyMap<string, CellProgram> = new Map()): CellProgram {
  return new Lowering(cell, source, callees).lower();
}

