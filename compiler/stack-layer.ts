/**
 * A model's forward `let enc = stack(n, Cell)(below)` as one cell: exactly what the cell
 *
 *     cell Model.enc(below: <Cell's input shape>) -> enc { enc[t] = stack(n, Cell)(below[t]) }
 *
 * lowers to, so its n layers are inlined into one step graph (fused, hoisted and
 * differentiated as one cell, one launch per step) with params named enc.0.W, enc.1.W, ...
 * It is built from the checked form the cell would have, pointing at the model's line, and
 * goes through the same lowering and passes as any cell.
 */
import type { Expr } from '../dsl/ast.js';
import type { CheckedCell } from '../dsl/check.js';
import type { Span } from '../dsl/span.js';
import { cellPasses } from './cell-passes.js';
import type { CellProgram } from './ir.js';
import { lowerCell } from './lower.js';

export interface StackLine {
  /** the let the line defines: the instance prefix and the output's name */
  readonly name: string;
  /** what the line reads: the input's name */
  readonly reads: string;
  readonly layers: number;
  readonly span: Span;
}

/** `callee` as lowered before its passes, as a cell call inlines it. */
export function stackLayer(model: string, callee: CellProgram, line: StackLine, file: string, source: string): CellProgram {
  const { span } = line;
  const input = callee.inputs[0]!;
  const apply: Expr = {
    kind: 'apply',
    callee: 'stack',
    options: [{ kind: 'number', value: line.layers, span }, { kind: 'name', name: callee.name, span }],
    args: [{ kind: 'index', name: line.reads, index: { kind: 'name', name: 't', span }, nameSpan: span, span }],
    calleeSpan: span,
    span,
  };
  const ident = (name: string) => ({ name, span });
  const checked: CheckedCell = {
    node: { name: ident(`${model}.${line.name}`), inputs: [], outputs: [ident(line.name)], body: [], span },
    file,
    sizes: [...new Set(input.shape.flatMap((d) => d.variables()))].map((name) => ({ name, span })),
    inputs: new Map([[line.reads, { name: line.reads, span, value: input.shape }]]),
    onehot: new Set(input.onehot ? [line.reads] : []),
    masks: new Set(),
    params: new Map(),
    states: new Map(),
    definitions: [{ kind: 'readout', name: line.name, value: apply, span }],
    outputs: [line.name],
  };
  return cellPasses(lowerCell(checked, source, new Map([[callee.name, callee]])));
}
