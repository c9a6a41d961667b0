/**
 * Losses as IR: a training program is the cell plus a per-step, per-example loss readout
 * computed from one of its outputs and a target input. Written with primitives, so the
 * loss's gradient comes from the same rules as everything else.
 */
import { GraphBuilder } from './graph.js';
import type { CellProgram } from './ir.js';
import { shapeEquals } from './shape.js';

/**
 * 'cotangent' is the sum of target * output: its gradient is the target, so a layer whose
 * output feeds a later layer trains on the gradient that layer sends back (runtime/layered.ts).
 */
export type LossKind = 'mse' | 'sigmoid-bce' | 'softmax-ce' | 'cotangent';

export interface LossSpec {
  readonly kind: LossKind;
  /** the output (readout or state) the loss compares with the target; logits for the *-ce losses */
  readonly output: string;
}

/** The loss a cell trains and is checked with by default: softmax-ce on a readout, else mse on its first output. */
export function defaultLoss(cell: CellProgram): LossSpec {
  // the first output the cell lists that is a readout, not the first one it defines
  const readout = cell.outputs.find((name) => cell.readouts.some((r) => r.name === name));
  return readout ? { kind: 'softmax-ce', output: readout } : { kind: 'mse', output: cell.outputs[0]! };
}

/** Names the training program adds; user names cannot start with two underscores. */
export const TARGET = '__target';
export const WEIGHT = '__weight';
export const LOSS = '__loss';

/**
 * Adds inputs `__target` (the output's shape) and `__weight` (a number per step and example:
 * 0 for padding, else 1/normalizer) and the readout `__loss` (the unweighted loss per step and
 * example): mse sums squared differences over the features, sigmoid-bce takes logits and
 * targets in [0, 1], softmax-ce takes logits and a one-hot (or any distribution) target.
 */
export function withLoss(program: CellProgram, spec: LossSpec): CellProgram {
  const result = [...program.updates, ...program.readouts].find((r) => r.name === spec.output);
  if (!result) throw new Error(`cell ${program.name} has no output ${spec.output}; outputs: ${program.outputs.join(', ')}`);
  const graph = new GraphBuilder();
  for (const e of program.eqns) graph.emitTyped(e.op, e.args, e.attrs, e.type, e.span);
  const z = result.value;
  const shape = graph.type(z).shape;
  if (shape.length !== 1) throw new Error(`the loss needs a vector output; ${spec.output} is ${shape.length}-dimensional`);
  const target = graph.emitTyped('input', [], { name: TARGET }, { shape, batched: true });
  const emit = graph.emit.bind(graph);
  let loss: number;
  switch (spec.kind) {
    case 'mse': {
      const d = emit('sub', [z, target]);
      loss = emit('reduce_sum', [emit('mul', [d, d])]);
      break;
    }
    case 'sigmoid-bce': {
      // max(z, 0) - z q + log(1 + exp(-|z|)): stable for any logit
      const softplus = emit('log', [emit('add', [graph.constant(1), emit('exp', [emit('neg', [emit('abs', [z])])])])]);
      const pointwise = emit('add', [emit('sub', [emit('max', [z, graph.constant(0)]), emit('mul', [z, target])]), softplus]);
      loss = emit('reduce_sum', [pointwise]);
      break;
    }
    case 'cotangent':
      loss = emit('reduce_sum', [emit('mul', [target, z])]);
      break;
    case 'softmax-ce': {
      // logsumexp(z) - sum(q z)
      const m = emit('reduce_max', [z]);
      const lse = emit('add', [m, emit('log', [emit('reduce_sum', [emit('exp', [emit('sub', [z, m])])])])]);
      loss = emit('sub', [lse, emit('reduce_sum', [emit('mul', [target, z])])]);
      break;
    }
  }
  if (!shapeEquals(graph.type(loss).shape, [])) throw new Error('internal: loss is not a number per example');
  return {
    ...program,
    inputs: [...program.inputs, { name: TARGET, shape }, { name: WEIGHT, shape: [] }],
    eqns: graph.eqns,
    readouts: [...program.readouts, { name: LOSS, value: loss }],
  };
}
