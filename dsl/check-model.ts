/**
 * Checks of a model that need no shapes: its one input and one output, the names its lines
 * define and read, what each line runs (a cell, `bidirectional(Cell)`, `stack(n, Cell)` or
 * `stack(n, bidirectional(Cell))`), that the layers form a chain from the input to the
 * output (each layer reads the one below, as runtime/layered.ts runs them), and the loss.
 * Shapes across the layers are checked when lowering (compiler/model.ts).
 */
import type { CellNode, DimNode, Expr, Ident, ModelNode, ModelStmt } from './ast.js';
import { FUNCTIONS } from './check.js';
import { SeqError, closest, locate } from './diagnostics.js';
import type { Span } from './span.js';
import { Dim } from '../compiler/shape.js';

/** The losses a model's head may train on: seqc's --loss kinds. */
export const MODEL_LOSSES = ['mse', 'sigmoid-bce', 'softmax-ce'] as const;
export type ModelLoss = (typeof MODEL_LOSSES)[number];

/** One line of the chain: what it runs and what it reads. */
export interface LayerLine {
  /** the let or the output the line defines */
  readonly name: string;
  /** the cell each layer of the line runs */
  readonly cell: string;
  /** each layer runs the cell forward and on each sequence reversed within its length */
  readonly bidirectional: boolean;
  /** how many layers the line is: n for stack(n, ...), else 1 */
  readonly layers: number;
  /** the name it reads: the model's input or the line below */
  readonly reads: string;
  /** the layer expression, where shape errors point */
  readonly span: Span;
}

export interface ModelInput {
  readonly name: Ident;
  readonly onehot: boolean;
  /** per step: a vector, or the one-hot vector of an id */
  readonly dim: Dim;
  /** where each size of the input's shape first appears */
  readonly sizes: ReadonlyMap<string, Span>;
}

export interface CheckedModel {
  readonly node: ModelNode;
  readonly file: string;
  readonly input: ModelInput;
  /** `size` lines: defaults of the model's sizes */
  readonly sizes: ReadonlyMap<string, { readonly value: number; readonly span: Span }>;
  /** the chain from the input: the last line defines the output (the head) */
  readonly lines: readonly LayerLine[];
  readonly output: Ident;
  readonly loss?: { readonly kind: ModelLoss; readonly span: Span };
}

const FORMS = 'a layer is Cell(x), bidirectional(Cell)(x), stack(n, Cell)(x) or stack(n, bidirectional(Cell))(x), reading the layer below';

class ModelChecker {
  /** every name the model defines: its input, its lets and its output */
  readonly defined = new Map<string, Span>();
  readonly sizes = new Map<string, { value: number; span: Span }>();
  readonly lines: (LayerLine & { readonly readSpan: Span; readonly nameSpan: Span })[] = [];
  loss?: { kind: ModelLoss; span: Span };

  constructor(readonly model: ModelNode, readonly file: string, readonly source: string, readonly cells: ReadonlyMap<string, CellNode>) {}

  line(span: Span): number {
    return locate(this.source, span.start).line;
  }

  check(): CheckedModel {
    const { model } = this;
    const input = this.input();
    const output = this.output();
    this.defined.set(input.name.name, input.name.span);
    for (const stmt of model.body) this.statement(stmt, output);
    if (!this.lines.some((l) => l.name === output.name)) {
      throw new SeqError(output.span, `output ${output.name} is never assigned`, `assign it from the last layer, e.g. ${output.name} = Readout(...)`);
    }
    return { node: model, file: this.file, input, sizes: this.sizes, lines: this.chain(input.name, output), output, ...(this.loss ? { loss: this.loss } : {}) };
  }

  /** One input sequence of vectors or ids: it is what the first layer reads. */
  input(): ModelInput {
    const { model } = this;
    const [first, second] = model.inputs;
    if (!first) throw new SeqError(model.name.span, `model ${model.name.name} has no input`, `a model reads one input sequence: model ${model.name.name}(x: [I]) -> ...`);
    if (second) throw new SeqError(second.name.span, `a model reads one input sequence, but ${model.name.name} has ${model.inputs.length}`, 'the first layer reads the input; combine several inputs inside a cell');
    const word = first.encoding;
    if (word && word.name !== 'onehot') {
      const guess = closest(word.name, ['onehot']);
      throw new SeqError(word.span, word.name === 'mask' ? 'a model\'s input is numbers or ids, not a mask' : `unknown input encoding '${word.name}'`, guess && word.name !== 'mask' ? `did you mean '${guess}'?` : `write ${first.name.name}: [N] (a vector per step) or ${first.name.name}: onehot[V] (one id per step)`);
    }
    if (first.shape.dims.length !== 1) {
      throw new SeqError(first.shape.span, `a model's input is one vector (or one id) per step, a shape of one dimension; got ${first.shape.dims.length}`, `write ${first.name.name}: [N]`);
    }
    const sizes = new Map<string, Span>();
    const node = first.shape.dims[0]!;
    const dim = dimension(node, sizes);
    if (dim.constant !== undefined ? dim.constant < 1 : [...dim.terms.values()].every((c) => c <= 0)) {
      throw new SeqError(node.span, `a dimension must be at least 1, but ${dim} is never positive`, 'check the signs in this dimension');
    }
    return { name: first.name, onehot: word !== undefined, dim, sizes };
  }

  /** One output: what the last layer (the head) gives at every step. */
  output(): Ident {
    const { model } = this;
    const [first, second] = model.outputs;
    if (second) throw new SeqError(second.span, `a model returns one output, its last layer's; got ${model.outputs.length}`, `list one name after ->, e.g. -> ${first!.name}`);
    return first!;
  }

  claim(name: Ident): void {
    const taken = this.defined.get(name.name);
    if (taken) throw new SeqError(name.span, `${name.name} is already defined on line ${this.line(taken)}`, 'each name in a model is defined once; choose another name');
    this.defined.set(name.name, name.span);
  }

  statement(stmt: ModelStmt, output: Ident): void {
    switch (stmt.kind) {
      case 'size': {
        const previous = this.sizes.get(stmt.name.name);
        if (previous) throw new SeqError(stmt.name.span, `size ${stmt.name.name} is declared twice (first on line ${this.line(previous.span)})`, 'declare each size once');
        this.sizes.set(stmt.name.name, { value: stmt.value, span: stmt.name.span });
        return;
      }
      case 'let': {
        const [name, extra] = stmt.names;
        if (extra) throw new SeqError(extra.span, 'a model\'s line defines one layer, so let binds one name', `write let ${name!.name} = ...`);
        if (name!.name === output.name) throw new SeqError(name!.span, `${name!.name} is the model's output: assign it without let`, `write ${name!.name} = ...`);
        this.claim(name!);
        this.layer(name!, stmt.value);
        return;
      }
      case 'output': {
        const { target } = stmt;
        if (target.name !== output.name) {
          const hint = this.defined.has(target.name) ? `${target.name} is already defined; the output is ${output.name}` : `write let ${target.name} = ... for a layer inside the model, or make it the output: -> ${target.name}`;
          throw new SeqError(target.span, `${target.name} is not the model's output`, hint);
        }
        this.claim(target);
        this.layer(target, stmt.value);
        return;
      }
      case 'loss': {
        if (this.loss) throw new SeqError(stmt.span, `the loss is given twice (first on line ${this.line(this.loss.span)})`, 'a model trains on one loss; keep one loss line');
        const kind = stmt.loss.name;
        if (!(MODEL_LOSSES as readonly string[]).includes(kind)) {
          const guess = closest(kind, MODEL_LOSSES);
          throw new SeqError(stmt.loss.span, `unknown loss '${kind}'`, guess ? `did you mean '${guess}'?` : `the losses are ${MODEL_LOSSES.join(', ')}`);
        }
        if (stmt.output.name !== output.name) {
          throw new SeqError(stmt.output.span, `the loss reads the model's output ${output.name}, not ${stmt.output.name}`, `write loss ${kind}(${output.name})`);
        }
        this.loss = { kind: kind as ModelLoss, span: stmt.span };
        return;
      }
    }
  }

  /** A layer line: the cell it runs, in which direction and how many times, and what it reads. */
  layer(name: Ident, value: Expr): void {
    if (value.kind === 'call' && (value.callee === 'bidirectional' || value.callee === 'stack')) {
      throw new SeqError(value.span, `${value.callee}(...) makes a layer; apply it to the layer below`, `write ${this.source.slice(value.span.start, value.span.end)}(x)`);
    }
    if (value.kind === 'call' && !this.cells.has(value.callee)) throw this.notACell(value.callee, value.calleeSpan);
    if (value.kind !== 'call' && value.kind !== 'apply') {
      throw new SeqError(value.span, `a model's line is a layer over the whole sequence; ${FORMS}`, 'computations within a step belong in a cell: write them in one and run it as a layer');
    }
    const form = value.kind === 'call' ? { cell: { name: value.callee, span: value.calleeSpan }, bidirectional: false, layers: 1 } : this.combinator(value);
    const callee = this.cells.get(form.cell.name)!;
    const what = form.bidirectional ? `bidirectional(${callee.name.name}) runs one cell in both directions` : 'a layer runs one cell';
    if (callee.inputs.length !== 1 || callee.outputs.length !== 1) {
      const [count, noun] = callee.inputs.length !== 1 ? [callee.inputs.length, 'input'] : [callee.outputs.length, 'output'];
      throw new SeqError(form.cell.span, `${what}, with one input (the layer below) and one output (what the layer above reads), but ${callee.name.name} has ${count} ${noun}${count === 1 ? '' : 's'}`, noun === 'input' ? 'give the cell one input; it can combine several values inside' : `list one output after -> in cell ${callee.name.name}`);
    }
    const [arg, extra] = value.args;
    if (!arg || extra) {
      throw new SeqError(value.span, `a layer reads one sequence, the layer below; got ${value.args.length} argument${value.args.length === 1 ? '' : 's'}`, 'give the name of the layer below as its one argument, e.g. LSTM(l0)');
    }
    if (arg.kind === 'index') {
      throw new SeqError(arg.span, `a model's values are whole sequences, so ${arg.name} takes no time index`, `write ${arg.name}`);
    }
    if (arg.kind !== 'name') throw new SeqError(arg.span, 'a layer reads the layer below by its name', 'bind the layer below with let, e.g. let l0 = LSTM(x), then read l0');
    this.lines.push({ name: name.name, cell: form.cell.name, bidirectional: form.bidirectional, layers: form.layers, reads: arg.name, span: value.span, readSpan: arg.span, nameSpan: name.span });
  }

  /** bidirectional(Cell), stack(n, Cell) and stack(n, bidirectional(Cell)). */
  combinator(value: Expr & { kind: 'apply' }): { cell: { name: string; span: Span }; bidirectional: boolean; layers: number } {
    const name = (e: Expr | undefined, usage: string): { name: string; span: Span } => {
      if (e?.kind === 'name' && this.cells.has(e.name)) return { name: e.name, span: e.span };
      if (e?.kind === 'name') throw this.notACell(e.name, e.span);
      throw new SeqError(e?.span ?? value.span, `expected the name of a cell, as in ${usage}`, `write ${usage}`);
    };
    if (value.callee === 'bidirectional') {
      const [cell, extra] = value.options;
      if (cell?.kind === 'call' && cell.callee === 'stack') {
        throw new SeqError(cell.span, 'bidirectional takes one cell; for layers of both directions, stack the bidirectional layer', 'write stack(2, bidirectional(LSTM))(x): layer 1 reads both directions of layer 0');
      }
      if (extra) throw new SeqError(extra.span, 'bidirectional takes one cell', 'write bidirectional(LSTM)(x)');
      return { cell: name(cell, 'bidirectional(LSTM)(x)'), bidirectional: true, layers: 1 };
    }
    if (value.callee === 'stack') {
      const [count, cell, extra] = value.options;
      if (!count || !cell || extra) throw new SeqError(value.span, `stack takes a number of layers and a cell, got ${value.options.length} argument${value.options.length === 1 ? '' : 's'}`, 'write stack(2, LSTM)(x)');
      if (count.kind !== 'number' || !Number.isInteger(count.value) || count.value < 1) {
        throw new SeqError(count.span, 'the number of layers of a stack is a whole number of at least 1', 'write e.g. stack(2, LSTM)(x)');
      }
      if (cell.kind === 'call' && cell.callee === 'bidirectional') {
        const [inner, more] = cell.args;
        if (more) throw new SeqError(more.span, 'bidirectional takes one cell', 'write stack(2, bidirectional(LSTM))(x)');
        return { cell: name(inner, 'stack(2, bidirectional(LSTM))(x)'), bidirectional: true, layers: count.value };
      }
      return { cell: name(cell, 'stack(2, LSTM)(x)'), bidirectional: false, layers: count.value };
    }
    const guess = closest(value.callee, ['bidirectional', 'stack']);
    throw new SeqError(value.calleeSpan, `unknown combinator '${value.callee}'`, guess ? `did you mean '${guess}'?` : FORMS);
  }

  notACell(name: string, span: Span): SeqError {
    if (FUNCTIONS[name] !== undefined) {
      return new SeqError(span, `${name} is a function of the values of one step, not a layer; ${FORMS}`, `apply ${name} inside a cell and run the cell as a layer`);
    }
    const guess = closest(name, this.cells.keys());
    return new SeqError(span, `unknown cell '${name}'`, guess ? `did you mean '${guess}'?` : this.cells.size ? `cells in this file: ${[...this.cells.keys()].join(', ')}` : 'define the cell in this file');
  }

  /** The lines from the input to the output, each reading the one before it. */
  chain(input: Ident, output: Ident): LayerLine[] {
    const readers = new Map<string, (typeof this.lines)[number]>();
    for (const line of this.lines) {
      if (line.reads === line.name) throw new SeqError(line.readSpan, `${line.name} reads itself`, 'a layer reads the layer below it: the model\'s input or an earlier let');
      if (!this.defined.has(line.reads)) {
        const guess = closest(line.reads, this.defined.keys());
        throw new SeqError(line.readSpan, `unknown name '${line.reads}'`, guess ? `did you mean '${guess}'?` : `the model's input is ${input.name}`);
      }
      if (line.reads === output.name) {
        throw new SeqError(line.readSpan, `${output.name} is the model's output, its last layer, so no layer reads it`, `bind this layer with let and assign ${output.name} from the last one`);
      }
      const first = readers.get(line.reads);
      if (first) {
        throw new SeqError(line.readSpan, `${line.reads} is read by two layers (first on line ${this.line(first.span)}): a model is a chain, each layer reading the one below`, 'a layer that reads several layers, or a layer read twice, is not supported; combine them inside a cell');
      }
      readers.set(line.reads, line);
    }
    const chain: LayerLine[] = [];
    let current = input.name;
    let at = input.span;
    while (current !== output.name) {
      const next = readers.get(current);
      if (!next) throw new SeqError(at, `${current} is never read: a model's layers form a chain from its input to its output`, `read it in the next layer, or assign the output from it: ${output.name} = Readout(${current})`);
      const { readSpan: _read, nameSpan, ...line } = next;
      chain.push(line);
      current = next.name;
      at = nameSpan;
    }
    // every name is read at most once, so a line off the chain is on a cycle of its own
    const off = this.lines.find((l) => !chain.some((c) => c.name === l.name));
    if (off) throw new SeqError(off.nameSpan, `${off.name} is not on the chain of layers from ${input.name} to ${output.name}`, 'each layer reads the one below it, starting from the model\'s input');
    return chain;
  }
}

/** A dimension of the model's input, noting where each size first appears. */
function dimension(node: DimNode, sizes: Map<string, Span>): Dim {
  switch (node.kind) {
    case 'int':
      return Dim.of(node.value!);
    case 'name':
      if (node.name === 't' || FUNCTIONS[node.name!] !== undefined) throw new SeqError(node.span, `'${node.name}' is ${node.name === 't' ? 'the time index' : 'a built-in function'} and cannot be a size`, 'choose another name for the size');
      if (!sizes.has(node.name!)) sizes.set(node.name!, node.span);
      return Dim.of(node.name!);
    case 'add':
      return dimension(node.left!, sizes).add(dimension(node.right!, sizes));
    case 'sub':
      return dimension(node.left!, sizes).sub(dimension(node.right!, sizes));
    case 'mul':
      return dimension(node.left!, sizes).mul(dimension(node.right!, sizes));
  }
}

/** Checks a model against the cells of its file (a model may run any of them). */
export function checkModel(model: ModelNode, file: string, source: string, cells: ReadonlyMap<string, CellNode>): CheckedModel {
  return new ModelChecker(model, file, source, cells).check();
}
