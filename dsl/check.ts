/**
 * Checks that need no shapes: every name resolves, time indices are t or t-k, each state is
 * assigned exactly once, nothing in a step depends on itself. Produces the declarations and
 * the step's definitions in dependency order, ready for lowering.
 */
import type { CellNode, DimNode, Expr, Ident, InitNode, ProgramNode, ShapeNode, Stmt } from './ast.js';
import { SeqError, closest, locate } from './diagnostics.js';
import type { Span } from './span.js';
import { Dim, type Shape } from '../compiler/shape.js';
import type { Initializer } from '../compiler/ir.js';

export interface Declared<T> {
  readonly name: string;
  readonly span: Span;
  readonly value: T;
}

export type Definition =
  | { readonly kind: 'let'; readonly names: readonly string[]; readonly value: Expr; readonly span: Span; readonly gate: boolean }
  | { readonly kind: 'update' | 'readout'; readonly name: string; readonly value: Expr; readonly span: Span };

export interface CheckedCell {
  readonly node: CellNode;
  readonly file: string;
  /** every size variable, in order of first appearance, with its default if declared */
  readonly sizes: readonly { readonly name: string; readonly default?: number; readonly span: Span }[];
  readonly inputs: ReadonlyMap<string, Declared<Shape>>;
  /** inputs declared `onehot[V]`: one id per step and example, meaning its one-hot vector */
  readonly onehot: ReadonlySet<string>;
  /** inputs declared `mask[...]`: 0 and 1 the caller gives, data without a gradient */
  readonly masks: ReadonlySet<string>;
  readonly params: ReadonlyMap<string, Declared<{ shape: Shape; init: Initializer }>>;
  readonly states: ReadonlyMap<string, Declared<{ shape: Shape; initial: number; maxLag: number }>>;
  readonly definitions: readonly Definition[];
  readonly outputs: readonly string[];
}

export const FUNCTIONS: Readonly<Record<string, number>> = {
  sigmoid: 1, tanh: 1, relu: 1, exp: 1, log: 1, sqrt: 1, abs: 1, softmax: 1, sum: 1,
  max: 2, min: 2, pow: 2, split: 2, dropout: 2, recurrent_dropout: 2, repeat: 2, conv2d: 4,
};

/**
 * The probability of a dropout call: a number written in place, 0 <= p < 1 (in f32, as the
 * device compares it), since the mask and its 1/(1-p) scale are fixed when compiling.
 */
export function dropoutProbability(call: Expr & { kind: 'call' }): number {
  const arg = call.args[1]!;
  const value = arg.kind === 'number' ? arg.value : arg.kind === 'neg' && arg.operand.kind === 'number' ? -arg.operand.value : undefined;
  if (value === undefined) {
    throw new SeqError(arg.span, `the probability of ${call.callee} must be a number written in place`, `write e.g. ${USAGE[call.callee]}`);
  }
  if (!(value >= 0 && Math.fround(value) < 1)) {
    throw new SeqError(arg.span, `${call.callee} drops each element with probability p, 0 <= p < 1; got ${value}`, Math.fround(value) >= 1 ? `p = 1 would drop everything${value < 1 ? ` (${value} is 1 in 32-bit floats)` : ''}; write e.g. 0.5` : `write e.g. ${USAGE[call.callee]}`);
  }
  return value;
}

const USAGE: Readonly<Record<string, string>> = {
  max: 'max(a, b)', min: 'min(a, b)', pow: 'pow(a, b)', split: 'let a, b = split(v, 2)',
  dropout: 'dropout(v, 0.25)', recurrent_dropout: 'recurrent_dropout(h[t-1], 0.25)',
  repeat: 'repeat(b, Y*X)', conv2d: 'conv2d(W, h[t-1], Y, X)',
};

/** The largest dimension a shape may name: buffer sizes and indices are 32-bit in WGSL. */
const MAX_DIM = 2 ** 31 - 1;

const INITIALIZERS: Readonly<Record<string, readonly string[]>> = {
  zeros: [], ones: [], xavier: [], glorot: [], orthogonal: [],
  uniform: ['scale'], normal: ['std'], constant: ['value'],
  // any number of values: the first dimension in that many equal blocks (a forget-gate bias)
  blocks: ['value', '...'],
};

function initializer(node: InitNode | undefined): Initializer {
  if (!node) return { kind: 'zeros' };
  const params = INITIALIZERS[node.name];
  if (!params) {
    const guess = closest(node.name, Object.keys(INITIALIZERS));
    throw new SeqError(node.span, `unknown initializer '${node.name}'`, guess ? `did you mean '${guess}'?` : `known initializers: ${Object.keys(INITIALIZERS).join(', ')}`);
  }
  if (node.name === 'blocks') {
    if (node.args.length < 1) throw new SeqError(node.span, 'blocks takes one value per block, got none', 'write e.g. blocks(0, 1, 0, 0) to set an LSTM forget-gate bias to 1');
    return { kind: 'blocks', values: [...node.args] };
  }
  if (node.args.length !== params.length) {
    const usage = params.length ? `${node.name}(${params.join(', ')})` : node.name;
    throw new SeqError(node.span, `${node.name} takes ${params.length} argument${params.length === 1 ? '' : 's'}, got ${node.args.length}`, `write ${usage}`);
  }
  if ((node.name === 'uniform' || node.name === 'normal') && node.args[0]! < 0) {
    throw new SeqError(node.span, `${node.name}(${params[0]}) needs ${params[0]} >= 0, got ${node.args[0]}`, `write ${node.name}(${-node.args[0]!})`);
  }
  switch (node.name) {
    case 'uniform':
      return { kind: 'uniform', scale: node.args[0]! };
    case 'normal':
      return { kind: 'normal', std: node.args[0]! };
    case 'constant':
      return { kind: 'constant', value: node.args[0]! };
    case 'glorot':
      return { kind: 'xavier' };
    default:
      return { kind: node.name as 'zeros' | 'ones' | 'xavier' | 'orthogonal' };
  }
}

/** A time index written as `t` (lag 0) or `t - k`; anything else is undefined. */
function timeLag(index: Expr): number | undefined {
  if (index.kind === 'name' && index.name === 't') return 0;
  if (index.kind === 'binary' && index.op === '-' && index.left.kind === 'name' && index.left.name === 't' && index.right.kind === 'number') {
    // `t - 0` is refused rather than read as `t`: one spelling for the current step
    return Number.isInteger(index.right.value) && index.right.value >= 1 ? index.right.value : undefined;
  }
  return undefined;
}

/** An index expression as the user would write it, for messages. */
function text(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return String(e.value);
    case 'name':
      return e.name;
    case 'binary':
      return `${text(e.left)}${e.op}${text(e.right)}`;
    default:
      return '...';
  }
}

class CellChecker {
  readonly sizes = new Map<string, { name: string; default?: number; span: Span }>();
  readonly inputs = new Map<string, Declared<Shape>>();
  readonly onehot = new Set<string>();
  readonly masks = new Set<string>();
  readonly params = new Map<string, Declared<{ shape: Shape; init: Initializer }>>();
  readonly states = new Map<string, Declared<{ shape: Shape; initial: number; maxLag: number }>>();
  readonly lets = new Map<string, Definition & { kind: 'let' }>();
  readonly assigned = new Map<string, Definition & { kind: 'update' | 'readout' }>();
  readonly declaredSizes = new Map<string, { value: number; span: Span }>();

  /** cells defined above this one in the file, which it may call */
  constructor(readonly cell: CellNode, readonly file: string, readonly source: string, readonly cells: ReadonlyMap<string, CheckedCell> = new Map()) {}

  /** the cells this one calls, whose sizes it may declare */
  readonly called = new Set<CheckedCell>();

  line(span: Span): number {
    return locate(this.source, span.start).line;
  }

  check(): CheckedCell {
    const { cell } = this;
    if (cell.inputs.length === 0) {
      // the input sequences set the number of steps; without one a cell cannot be run
      throw new SeqError(cell.name.span, `cell ${cell.name.name} has no inputs`, `a cell reads at least one input sequence, whose length is the number of steps: cell ${cell.name.name}(x: [I]) -> ...`);
    }
    for (const stmt of cell.body) if (stmt.kind === 'size') this.declareSize(stmt);
    for (const input of cell.inputs) {
      this.claim(input.name.name, input.name.span);
      const shape = this.shape(input.shape);
      this.inputs.set(input.name.name, { name: input.name.name, span: input.name.span, value: shape });
      if (input.encoding) this.encoding(input.name.name, input.encoding, input.shape);
    }
    for (const stmt of cell.body) this.declare(stmt);
    for (const stmt of cell.body) if (stmt.kind === 'assign') this.assign(stmt);
    for (const [name, state] of this.states) {
      if (!this.assigned.has(name)) {
        throw new SeqError(state.span, `state ${name} is never assigned`, `add a line \`${name}[t] = ...\` that says how ${name} evolves`);
      }
    }
    const listed = new Set<string>();
    for (const out of cell.outputs) {
      if (listed.has(out.name)) throw new SeqError(out.span, `output ${out.name} is listed twice`, 'list each output once after ->');
      listed.add(out.name);
    }
    for (const out of cell.outputs) this.output(out.name, out.span);
    const definitions = [...this.lets.values(), ...this.assigned.values()];
    // names and time indices are checked in source order, so the first mistake is reported first
    for (const d of [...new Set(definitions)].sort((a, b) => a.span.start - b.span.start)) {
      this.resolve(d.value);
      this.oneCellCall(d.value);
    }
    for (const [name, decl] of this.declaredSizes) {
      const callees = [...this.called].flatMap((c) => c.sizes);
      const used = callees.find((s) => s.name === name);
      if (!this.sizes.has(name) && used) this.sizes.set(name, { name, span: used.span });
      if (!this.sizes.has(name)) throw new SeqError(decl.span, `size ${name} is declared but no shape uses it`, 'remove it, or use it in a param, state or input shape');
      this.sizes.get(name)!.default = decl.value;
    }
    return {
      node: cell,
      file: this.file,
      sizes: [...this.sizes.values()],
      inputs: this.inputs,
      onehot: this.onehot,
      masks: this.masks,
      params: this.params,
      states: this.states,
      definitions: this.order(definitions),
      outputs: cell.outputs.map((o) => o.name),
    };
  }

  /** An output is a state, or a value assigned at every step as y[t] = .... */
  output(name: string, span: Span): void {
    if (this.states.has(name) || this.assigned.has(name)) return;
    const kinds = 'an output is a state, or a value assigned at every step as y[t] = ...';
    if (this.inputs.has(name)) throw new SeqError(span, `output ${name} is an input of the cell`, `${kinds}; to pass ${name} through, write y[t] = ${name}[t]`);
    if (this.params.has(name)) throw new SeqError(span, `output ${name} is a param, which does not change from step to step`, kinds);
    if (this.lets.has(name)) throw new SeqError(span, `output ${name} is defined by let; an output is a state or assigned as ${name}[t] = ...`, `write ${name}[t] = ... instead of let ${name} = ...`);
    const outputs = new Set(this.cell.outputs.map((o) => o.name));
    const guess = closest(name, [...this.states.keys(), ...this.assigned.keys()].filter((n) => !outputs.has(n)));
    throw new SeqError(span, `output ${name} is neither a state nor assigned as ${name}[t]`, guess ? `did you mean '${guess}'?` : `assign it in the body: ${name}[t] = ...`);
  }

  declareSize(stmt: Stmt & { kind: 'size' }): void {
    this.sizeName(stmt.name.name, stmt.name.span);
    const previous = this.declaredSizes.get(stmt.name.name);
    if (previous) throw new SeqError(stmt.name.span, `size ${stmt.name.name} is declared twice (first on line ${this.line(previous.span)})`, 'declare each size once');
    if (stmt.value < 1) throw new SeqError(stmt.span, `size ${stmt.name.name} must be at least 1, got ${stmt.value}`);
    this.declaredSizes.set(stmt.name.name, { value: stmt.value, span: stmt.name.span });
  }

  /** Every name in a cell means one thing. */
  claim(name: string, span: Span): void {
    if (name === 't') throw new SeqError(span, `'t' is the time index and cannot be redefined`, 'choose another name');
    if (FUNCTIONS[name] !== undefined) throw new SeqError(span, `'${name}' is a built-in function and cannot be redefined`, 'choose another name');
    const taken = this.inputs.get(name) ?? this.params.get(name) ?? this.states.get(name) ?? this.lets.get(name);
    if (taken) throw new SeqError(span, `${name} is already defined on line ${this.line(taken.span)}`, 'each name in a cell is defined once; choose another name');
  }

  declare(stmt: Stmt): void {
    switch (stmt.kind) {
      case 'param': {
        const shape = this.shape(stmt.shape);
        const init = initializer(stmt.init);
        if (init.kind === 'blocks' && !shape[0]!.divExact(init.values.length)) {
          throw new SeqError(stmt.init!.span, `blocks(...) has ${init.values.length} values, but the first dimension ${shape[0]} does not split into ${init.values.length} equal blocks`, `give as many values as the parameter has equal parts, e.g. blocks(0, 1, 0, 0) for [4*H]`);
        }
        for (const n of stmt.names) {
          this.claim(n.name, n.span);
          this.params.set(n.name, { name: n.name, span: n.span, value: { shape, init } });
        }
        return;
      }
      case 'state': {
        this.claim(stmt.name.name, stmt.name.span);
        const shape = this.shape(stmt.shape);
        this.states.set(stmt.name.name, { name: stmt.name.name, span: stmt.name.span, value: { shape, initial: stmt.initial ?? 0, maxLag: 0 } });
        return;
      }
      case 'let': {
        for (const n of stmt.names) this.claim(n.name, n.span);
        const definition = { kind: 'let' as const, names: stmt.names.map((n) => n.name), value: stmt.value, span: stmt.span, gate: stmt.gate };
        if (stmt.names.length > 1) {
          const v = stmt.value;
          if (v.kind !== 'call' || v.callee !== 'split') {
            throw new SeqError(v.span, `only split(...) gives several values, but ${stmt.names.length} names are bound here`, `write let ${stmt.names.map((n) => n.name).join(', ')} = split(..., ${stmt.names.length})`);
          }
        }
        for (const n of stmt.names) this.lets.set(n.name, definition);
        return;
      }
      default:
        return;
    }
  }

  assign(stmt: Stmt & { kind: 'assign' }): void {
    const name = stmt.target.name;
    const lag = timeLag(stmt.index);
    if (lag !== 0) {
      throw new SeqError(stmt.index.span, `a step assigns ${name}[t], the value at the current step`, `write ${name}[t] = ...`);
    }
    const previous = this.assigned.get(name);
    if (previous) throw new SeqError(stmt.target.span, `${name}[t] is assigned twice (first on line ${this.line(previous.span)})`, 'each state or output gets one value per step; combine the two expressions');
    if (this.states.has(name)) {
      this.assigned.set(name, { kind: 'update', name, value: stmt.value, span: stmt.span });
    } else if (this.inputs.has(name)) {
      throw new SeqError(stmt.target.span, `${name} is an input: its values are given, not assigned`, 'assign a state or an output instead');
    } else if (this.params.has(name)) {
      throw new SeqError(stmt.target.span, `${name} is a param: it does not change over time, so ${name}[t] cannot be assigned`, `for a value that evolves, declare state ${name}: [...]`);
    } else if (this.lets.has(name)) {
      throw new SeqError(stmt.target.span, `${name} is defined by let, so ${name}[t] cannot be assigned`, `a let is recomputed at every step from its expression; drop the let to make ${name} an output, or declare state ${name}: [...]`);
    } else if (this.cell.outputs.some((o) => o.name === name)) {
      this.assigned.set(name, { kind: 'readout', name, value: stmt.value, span: stmt.span });
    } else {
      const guess = closest(name, [...this.states.keys(), ...this.cell.outputs.map((o) => o.name)]);
      throw new SeqError(stmt.target.span, `${name} is neither a state nor an output of the cell`, guess ? `did you mean '${guess}'?` : `declare \`state ${name}: [...]\`, or list it after -> to make it a per-step output`);
    }
  }

  /**
   * `x: onehot[V]`: one id per step, its shape the length of the one-hot vector; `m: mask[S]`:
   * 0/1 data (which memory steps are valid, or causal), with no gradient.
   */
  encoding(name: string, word: Ident, shape: ShapeNode): void {
    if (word.name === 'mask') {
      this.masks.add(name);
      return;
    }
    if (word.name !== 'onehot') {
      const guess = closest(word.name, ['onehot', 'mask']);
      throw new SeqError(word.span, `unknown input encoding '${word.name}'`, guess ? `did you mean '${guess}'?` : `an input is x: [N] (numbers), x: onehot[V] (one id in [0, V) per step) or m: mask[S] (0/1 data)`);
    }
    if (shape.dims.length !== 1) {
      throw new SeqError(shape.span, `a onehot input is one id per step, a vector of one dimension; got ${shape.dims.length}`, `write ${name}: onehot[V] with V the number of ids`);
    }
    this.onehot.add(name);
  }

  shape(node: ShapeNode): Shape {
    if (node.dims.length === 0) throw new SeqError(node.span, 'a shape needs at least one dimension', 'write e.g. [H]');
    if (node.dims.length > 2) throw new SeqError(node.span, `shapes have one or two dimensions, got ${node.dims.length}`);
    return node.dims.map((d) => {
      const dim = this.dim(d);
      const constant = dim.constant;
      if (constant !== undefined && constant < 1) throw new SeqError(d.span, `a dimension must be at least 1, got ${constant}`);
      if (constant === undefined && [...dim.terms.values()].every((c) => c <= 0)) {
        throw new SeqError(d.span, `a dimension must be at least 1, but ${dim} is never positive`, 'check the signs in this dimension');
      }
      if ([...dim.terms.values()].some((c) => Math.abs(c) > MAX_DIM)) throw new SeqError(d.span, `dimension ${dim} is too large: dimensions are at most ${MAX_DIM}`);
      return dim;
    });
  }

  dim(node: DimNode): Dim {
    switch (node.kind) {
      case 'int':
        return Dim.of(node.value!);
      case 'name': {
        this.sizeName(node.name!, node.span);
        if (!this.sizes.has(node.name!)) this.sizes.set(node.name!, { name: node.name!, span: node.span });
        return Dim.of(node.name!);
      }
      case 'add':
        return this.dim(node.left!).add(this.dim(node.right!));
      case 'sub':
        return this.dim(node.left!).sub(this.dim(node.right!));
      case 'mul':
        return this.dim(node.left!).mul(this.dim(node.right!));
    }
  }

  /** Size names share no spelling with the time index or the built-in functions. */
  sizeName(name: string, span: Span): void {
    if (name === 't') throw new SeqError(span, `'t' is the time index and cannot be a size`, 'choose another name for the size, e.g. T');
    if (FUNCTIONS[name] !== undefined) throw new SeqError(span, `'${name}' is a built-in function and cannot be a size`, 'choose another name for the size');
  }

  /** Resolves names and validates time indices; records how far back each state is read. */
  resolve(expr: Expr): void {
    switch (expr.kind) {
      case 'number':
        return;
      case 'name': {
        const name = expr.name;
        if (this.params.has(name) || this.lets.has(name) || this.sizes.has(name)) return;
        if (name === 't') throw new SeqError(expr.span, `'t' is the time index and only appears inside [...]`, 'index a state or input with it, e.g. x[t]');
        if (this.inputs.has(name) || this.states.has(name) || this.assigned.has(name)) {
          const example = this.inputs.has(name) ? `${name}[t]` : `${name}[t-1]`;
          throw new SeqError(expr.span, `${name} varies over time and needs a time index`, `write ${example}`);
        }
        throw this.unknown(name, expr.span);
      }
      case 'index': {
        const name = expr.name;
        const lag = timeLag(expr.index);
        if (this.inputs.has(name)) {
          if (lag !== 0) throw new SeqError(expr.index.span, `input ${name} is read at the current step only`, `write ${name}[t]`);
          return;
        }
        if (this.states.has(name)) {
          if (lag === undefined) {
            const index = expr.index;
            if (index.kind === 'binary' && index.op === '+' && index.left.kind === 'name' && index.left.name === 't') {
              throw new SeqError(index.span, `${name}[${text(index)}] reads a step that has not been computed yet`, `a step reads the past: write ${name}[t-1] for the previous step`);
            }
            const zero = expr.index.kind === 'binary' && expr.index.right.kind === 'number' && expr.index.right.value === 0;
            throw new SeqError(expr.index.span, `time index of state ${name} must be t or t-k with a whole number k >= 1`, zero ? `write ${name}[t] for the value at this step` : `write ${name}[t-1] for the previous step`);
          }
          if (lag > 64) throw new SeqError(expr.index.span, `${name}[t-${lag}] reaches back more than 64 steps`, 'keep skips in time at 64 steps or fewer');
          const decl = this.states.get(name)!;
          if (lag > decl.value.maxLag) this.states.set(name, { ...decl, value: { ...decl.value, maxLag: lag } });
          return;
        }
        if (this.assigned.has(name)) {
          if (lag !== 0) throw new SeqError(expr.index.span, `${name} is an output, not a state, so only ${name}[t] can be read`, `declare \`state ${name}: [...]\` to read earlier steps`);
          return;
        }
        if (this.params.has(name) || this.lets.has(name)) {
          throw new SeqError(expr.span, `${name} does not vary over time and takes no time index`, `write ${name}`);
        }
        throw this.unknown(name, expr.nameSpan);
      }
      case 'apply':
        this.combinator(expr);
        return;
      case 'call': {
        const callee = this.cells.get(expr.callee);
        if (callee && FUNCTIONS[expr.callee] === undefined) {
          this.cellCall(callee.node, expr.args.length, expr.span);
          this.called.add(callee);
          for (const a of expr.args) this.resolve(a);
          return;
        }
        const arity = FUNCTIONS[expr.callee];
        if (arity === undefined) {
          if (this.inputs.has(expr.callee) || this.states.has(expr.callee) || this.assigned.has(expr.callee)) {
            throw new SeqError(expr.calleeSpan, `${expr.callee} is not a function`, `index it by time with brackets, e.g. ${expr.callee}[${this.inputs.has(expr.callee) ? 't' : 't-1'}]`);
          }
          if (this.params.has(expr.callee) || this.lets.has(expr.callee)) {
            throw new SeqError(expr.calleeSpan, `${expr.callee} is not a function`, `to multiply, write ${expr.callee} * (...), or ${expr.callee} @ v for a matrix`);
          }
          const guess = closest(expr.callee, [...Object.keys(FUNCTIONS), ...this.cells.keys()]);
          const later = expr.callee === this.cell.name.name ? 'a cell cannot call itself' : undefined;
          throw new SeqError(expr.calleeSpan, later ? `${expr.callee} calls itself` : `unknown function '${expr.callee}'`, later ?? (guess ? `did you mean '${guess}'?` : `built-in functions: ${Object.keys(FUNCTIONS).join(', ')}; a cell defined above this one can be called too`));
        }
        if (expr.args.length !== arity) {
          throw new SeqError(expr.span, `${expr.callee} takes ${arity} argument${arity === 1 ? '' : 's'}, got ${expr.args.length}`, `write ${USAGE[expr.callee] ?? `${expr.callee}(v)`}`);
        }
        if (expr.callee === 'split') {
          const parts = expr.args[1]!;
          if (parts.kind !== 'number' || !Number.isInteger(parts.value) || parts.value < 1) {
            throw new SeqError(parts.span, 'split takes a whole number of parts', 'write e.g. split(z, 4)');
          }
          this.resolve(expr.args[0]!);
          return;
        }
        if (expr.callee === 'dropout' || expr.callee === 'recurrent_dropout') {
          dropoutProbability(expr);
          this.resolve(expr.args[0]!);
          return;
        }
        for (const a of expr.args) this.resolve(a);
        return;
      }
      case 'binary':
        this.resolve(expr.left);
        this.resolve(expr.right);
        return;
      case 'neg':
        this.resolve(expr.operand);
        return;
      case 'concat':
        for (const p of expr.parts) this.resolve(p);
        return;
    }
  }

  /** A call of a cell defined above: one argument per input, and one output to give back. */
  cellCall(callee: CellNode, args: number, span: Span): void {
    const name = callee.name.name;
    if (args !== callee.inputs.length) {
      throw new SeqError(span, `${name} takes ${callee.inputs.length} argument${callee.inputs.length === 1 ? '' : 's'} (one per input), got ${args}`, `write ${name}(${callee.inputs.map((i) => `${i.name.name}[t]`).join(', ')}) with a vector for each input`);
    }
    if (callee.outputs.length !== 1) {
      throw new SeqError(span, `${name} returns ${callee.outputs.length} outputs, but a call gives one value`, `call a cell that lists one output after ->`);
    }
  }

  /** `stack(n, Cell)(v)`: n layers of Cell, each reading the one below at the same step. */
  combinator(expr: Expr & { kind: 'apply' }): void {
    if (expr.callee === 'bidirectional') {
      // its reverse direction reads the sequence from its end: no one step can hold that
      throw new SeqError(expr.calleeSpan, 'bidirectional(...) runs a cell over whole sequences, so it is a layer of a model, not part of a step', 'write it in a model: model M(x: [I]) -> y { let h = bidirectional(LSTM)(x) ... } (docs/language.md, "Models")');
    }
    if (expr.callee !== 'stack') {
      const guess = closest(expr.callee, ['stack']);
      throw new SeqError(expr.calleeSpan, `unknown combinator '${expr.callee}'`, guess ? `did you mean 'stack'? write stack(2, LSTM)(x[t])` : 'write stack(n, Cell)(x[t]) for n layers of Cell');
    }
    const [layers, cell] = expr.options;
    if (expr.options.length !== 2 || !layers || !cell) throw new SeqError(expr.span, `stack takes a number of layers and a cell, got ${expr.options.length} argument${expr.options.length === 1 ? '' : 's'}`, 'write stack(2, LSTM)(x[t])');
    if (layers.kind !== 'number' || !Number.isInteger(layers.value) || layers.value < 1) {
      throw new SeqError(layers.span, 'the number of layers of a stack is a whole number of at least 1', 'write e.g. stack(2, LSTM)(x[t])');
    }
    const callee = cell.kind === 'name' ? this.cells.get(cell.name) : undefined;
    if (!callee) {
      const name = cell.kind === 'name' ? cell.name : undefined;
      const guess = name ? closest(name, [...this.cells.keys()]) : undefined;
      throw new SeqError(cell.span, `stack's second argument must name a cell defined above${name ? `; '${name}' is not one` : ''}`, guess ? `did you mean '${guess}'?` : this.cells.size ? `cells defined above: ${[...this.cells.keys()].join(', ')}` : 'define the layer\'s cell above this one');
    }
    if (callee.node.inputs.length !== 1) {
      throw new SeqError(cell.span, `a stacked cell reads one input (the layer below), but ${callee.node.name.name} has ${callee.node.inputs.length}`, 'stack a cell with one input');
    }
    this.cellCall(callee.node, expr.args.length, expr.span);
    this.called.add(callee);
    for (const a of expr.args) this.resolve(a);
  }

  /** Each cell call is named after the let or output it defines, so one per definition. */
  oneCellCall(value: Expr): void {
    const calls: Expr[] = [];
    const walk = (e: Expr): void => {
      if (e.kind === 'apply' || (e.kind === 'call' && this.cells.has(e.callee) && FUNCTIONS[e.callee] === undefined)) calls.push(e);
      if (e.kind === 'call' || e.kind === 'apply') e.args.forEach(walk);
      else if (e.kind === 'binary') [e.left, e.right].forEach(walk);
      else if (e.kind === 'neg') walk(e.operand);
      else if (e.kind === 'concat') e.parts.forEach(walk);
    };
    walk(value);
    if (calls.length > 1) {
      throw new SeqError(calls[1]!.span, 'a definition calls a cell once: its params and states are named after the definition', 'bind each cell call with its own let, e.g. let h1 = LSTM(x[t])');
    }
  }

  unknown(name: string, span: Span): SeqError {
    const known = [...this.inputs.keys(), ...this.params.keys(), ...this.states.keys(), ...this.lets.keys(), ...this.assigned.keys()];
    const guess = closest(name, known);
    return new SeqError(span, `unknown name '${name}'`, guess ? `did you mean '${guess}'?` : 'declare it with param, state or let first');
  }

  /** The definitions a definition reads within the same step. */
  dependencies(expr: Expr, out: Set<Definition>): Set<Definition> {
    switch (expr.kind) {
      case 'name': {
        const d = this.lets.get(expr.name);
        if (d) out.add(d);
        break;
      }
      case 'index': {
        const d = this.assigned.get(expr.name);
        if (d && timeLag(expr.index) === 0) out.add(d);
        break;
      }
      case 'call':
      case 'apply':
        expr.args.forEach((a) => this.dependencies(a, out));
        break;
      case 'binary':
        this.dependencies(expr.left, out);
        this.dependencies(expr.right, out);
        break;
      case 'neg':
        this.dependencies(expr.operand, out);
        break;
      case 'concat':
        expr.parts.forEach((p) => this.dependencies(p, out));
        break;
      default:
        break;
    }
    return out;
  }

  order(definitions: readonly Definition[]): Definition[] {
    const ordered: Definition[] = [];
    const done = new Set<Definition>();
    const path: Definition[] = [];
    const label = (d: Definition): string => (d.kind === 'let' ? d.names.join(', ') : `${d.name}[t]`);
    const visit = (d: Definition): void => {
      if (done.has(d)) return;
      const at = path.indexOf(d);
      if (at >= 0) {
        const members = path.slice(at);
        const cycle = [...members, d].map(label).join(' -> ');
        const state = members.find((m) => m.kind === 'update');
        const readout = members.find((m) => m.kind === 'readout');
        const hint = state?.kind === 'update'
          ? `read the previous step instead, e.g. ${state.name}[t-1]`
          : readout?.kind === 'readout'
            ? `${readout.name} is an output, not a state; to read its previous value, declare state ${readout.name}: [...] and read ${readout.name}[t-1]`
            : `a let cannot use its own value; to carry ${label(d)} from one step to the next, make it a state and read ${d.kind === 'let' ? d.names[0] : label(d)}[t-1]`;
        throw new SeqError(d.span, `${label(d)} depends on itself within one step: ${cycle}`, hint);
      }
      path.push(d);
      for (const dep of this.dependencies(d.value, new Set())) visit(dep);
      path.pop();
      done.add(d);
      ordered.push(d);
    };
    definitions.forEach(visit);
    return ordered;
  }
}

export function check(program: ProgramNode): CheckedCell[] {
  const above = new Map<string, CheckedCell>();
  return program.cells.map((cell) => {
    if (above.has(cell.name.name)) throw new SeqError(cell.name.span, `cell ${cell.name.name} is defined twice`);
    const checked = new CellChecker(cell, program.file, program.source, new Map(above)).check();
    above.set(cell.name.name, checked);
    return checked;
  });
}
