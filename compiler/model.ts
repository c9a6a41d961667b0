/**
 * A checked model to its layers with shapes. Each layer is a cell run over the whole
 * sequence, forward or in both directions, reading the layer below; its sizes are written
 * in the model's sizes the way a cell call binds them: an input dimension of the cell that
 * is a single size takes the dimension of the layer below (so the LSTM over a
 * bidirectional layer of H units has I = 2*H), and the cell's other sizes are the model's
 * sizes of the same name. A mismatch is reported at the layer's line.
 */
import type { CheckedModel, LayerLine } from '../dsl/check-model.js';
import { SeqError } from '../dsl/diagnostics.js';
import type { Span } from '../dsl/span.js';
import type { CellProgram, SizeDecl } from './ir.js';
import { type LossSpec, defaultLoss } from './loss.js';
import { Dim, type Shape, formatShape } from './shape.js';
import { stackLayer } from './stack-layer.js';

export interface ModelLayer {
  /** the line's name; the layers of stack(n, bidirectional(Cell)) are name.0, name.1, ... */
  readonly name: string;
  readonly cell: CellProgram;
  readonly bidirectional: boolean;
  /** each of the cell's sizes, in the model's sizes */
  readonly sizes: ReadonlyMap<string, Dim>;
  /** per step, in the model's sizes: the cell's output, or both directions' side by side */
  readonly output: Dim;
  readonly span: Span;
}

export interface ModelProgram {
  readonly name: string;
  readonly input: { readonly name: string; readonly dim: Dim; readonly onehot: boolean };
  /** in order of first appearance: the input's, then each layer's free sizes */
  readonly sizes: readonly SizeDecl[];
  /** from the input up; the last is the head, whose output is the model's */
  readonly layers: readonly ModelLayer[];
  readonly output: string;
  /** the head's loss: the model's loss line, else the head cell's default */
  readonly loss: LossSpec;
}

export interface ModelCells {
  /** every cell, as lowered before its passes: a stack inlines these, as a cell call does */
  readonly lowered: ReadonlyMap<string, CellProgram>;
  /** every cell, ready to compile */
  readonly programs: ReadonlyMap<string, CellProgram>;
}

/** The shape of a cell's first output at one step. */
function outputShape(cell: CellProgram): Shape {
  const name = cell.outputs[0]!;
  const state = cell.states.find((s) => s.name === name);
  if (state) return state.shape;
  return cell.eqns[cell.readouts.find((r) => r.name === name)!.value]!.type.shape;
}

const perStep = (dim: Dim, onehot: boolean): string => (onehot ? `one id per step (onehot[${dim}])` : `[${dim}] per step`);

export function lowerModel(model: CheckedModel, source: string, cells: ModelCells): ModelProgram {
  const sizes: SizeDecl[] = [];
  const addSize = (name: string, span: Span, fallback?: number): void => {
    if (sizes.some((s) => s.name === name)) return;
    const value = model.sizes.get(name)?.value ?? fallback;
    sizes.push({ name, ...(value === undefined ? {} : { default: value }), span });
  };
  for (const [name, span] of model.input.sizes) addSize(name, span);

  const layers: ModelLayer[] = [];
  let below = { name: model.input.name.name, dim: model.input.dim, onehot: model.input.onehot };
  for (const line of model.lines) {
    const cell = layerCell(model, line, source, cells);
    const copies = line.bidirectional ? line.layers : 1;
    for (let l = 0; l < copies; l++) {
      const layer = bindLayer(cell, line, below, copies > 1 ? `${line.name}.${l}` : line.name);
      for (const s of cell.sizes) if (!boundByInput(cell, s.name)) addSize(s.name, line.span, s.default);
      layers.push(layer);
      below = { name: layer.name, dim: layer.output, onehot: false };
    }
  }
  for (const [name, declared] of model.sizes) {
    if (!sizes.some((s) => s.name === name)) {
      throw new SeqError(declared.span, `size ${name} is declared but no layer of the model has it free`, sizes.length ? `the model's sizes are ${sizes.map((s) => s.name).join(', ')}` : 'remove it');
    }
  }
  const head = layers[layers.length - 1]!;
  if (head.bidirectional) {
    throw new SeqError(head.span, `the output ${model.output.name} is the model's head, which runs forward: its output is what the loss reads`, `put a readout cell on top, e.g. ${model.output.name} = Readout(...) over this layer bound with let`);
  }
  const fallback = defaultLoss(head.cell);
  const loss: LossSpec = { kind: model.loss?.kind ?? fallback.kind, output: head.cell.outputs[0]! };
  return { name: model.node.name.name, input: { name: model.input.name.name, dim: model.input.dim, onehot: model.input.onehot }, sizes, layers, output: model.output.name, loss };
}

/** The cell a line runs: the cell itself, or a forward stack of it inlined into one cell. */
function layerCell(model: CheckedModel, line: LayerLine, source: string, cells: ModelCells): CellProgram {
  if (line.bidirectional || line.layers === 1) return cells.programs.get(line.cell)!;
  return stackLayer(model.node.name.name, cells.lowered.get(line.cell)!, line, model.file, source);
}

/** A size the cell's input is declared with alone (`x: [I]`): it takes the layer below's width. */
function boundByInput(cell: CellProgram, size: string): boolean {
  return cell.inputs[0]!.shape[0]!.equals(Dim.of(size));
}

/** The cell's sizes in the model's, from the layer below; the layer's output per step. */
function bindLayer(cell: CellProgram, line: LayerLine, below: { name: string; dim: Dim; onehot: boolean }, name: string): ModelLayer {
  const input = cell.inputs[0]!;
  const what = `${cell.name}'s input ${input.name}`;
  const [dim, extra] = input.shape;
  if ((input.onehot ?? false) !== below.onehot) {
    throw new SeqError(line.span, `${what} is ${perStep(input.shape[0]!, input.onehot ?? false)}, but ${below.name} is ${perStep(below.dim, below.onehot)}`, below.onehot
      ? `the first layer reads the ids: give ${cell.name} an input ${input.name}: onehot[V], as in a cell with an embedding (Emb @ ${input.name}[t])`
      : `only the first layer reads ids; the layers above read the vectors of the layer below`);
  }
  if (input.binary || extra || !dim) {
    throw new SeqError(line.span, `shape mismatch: ${what} is ${input.binary ? 'a mask ' : ''}${formatShape(input.shape)}, but ${below.name} is [${below.dim}] per step`, `a layer reads the vector of the layer below at every step: declare ${input.name}: [I]`);
  }
  const sizes = new Map<string, Dim>();
  const [only] = dim.variables();
  if (dim.variables().length === 1 && dim.equals(Dim.of(only!))) sizes.set(only!, below.dim);
  else if (!dim.equals(below.dim)) {
    throw new SeqError(line.span, `shape mismatch: ${what} is [${dim}] but ${below.name} is [${below.dim}] per step`, `a layer reads the layer below at every step: make the layer below give [${dim}], or declare ${cell.name}'s input as ${input.name}: [I] so that it takes the width of the layer below`);
  }
  for (const s of cell.sizes) if (!sizes.has(s.name)) sizes.set(s.name, Dim.of(s.name));
  const [out, outExtra] = outputShape(cell).map((d) => d.substitute(sizes));
  if (!out || outExtra) {
    throw new SeqError(line.span, `a layer's output is a vector per step, but ${cell.name}'s output ${cell.outputs[0]} is ${formatShape(outputShape(cell))}`, 'give the cell a vector output, e.g. y[t] = W @ h[t]');
  }
  return { name, cell, bidirectional: line.bidirectional, sizes, output: line.bidirectional ? out.scale(2) : out, span: line.span };
}

/** The model's layers as `seqc ir` prints them: what each runs, its sizes in the model's, its width per step. */
export function printModel(model: ModelProgram): string {
  const sizes = model.sizes.map((s) => (s.default === undefined ? s.name : `${s.name}=${s.default}`));
  const lines = [`model ${model.name} sizes(${sizes.join(', ')}) -> (${model.output}), loss ${model.loss.kind} on ${model.layers[model.layers.length - 1]!.cell.name}.${model.loss.output}`];
  lines.push(`  input ${model.input.name}: ${model.input.onehot ? 'onehot' : 'f32'}[B, ${model.input.dim}]`);
  for (const layer of model.layers) {
    const bound = layer.cell.sizes.map((s) => `${s.name}=${layer.sizes.get(s.name)}`).join(', ');
    lines.push(`  layer ${layer.name} = ${layer.bidirectional ? 'bidirectional ' : ''}${layer.cell.name}(${bound}): f32[B, ${layer.output}]`);
  }
  return lines.join('\n') + '\n';
}
