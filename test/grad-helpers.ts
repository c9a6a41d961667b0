/** Shared by gradient tests: random training data and float64 finite differences. */
import { type Differentiated, differentiate } from '../compiler/autodiff.js';
import type { CellProgram } from '../compiler/ir.js';
import { LOSS, type LossKind, TARGET, WEIGHT, withLoss } from '../compiler/loss.js';
import { randomInputs, randomParams } from '../compiler/run.js';
import { Random } from '../runtime/init.js';
import { referenceForward } from '../runtime/reference.js';

export interface GradCase {
  readonly program: Differentiated;
  readonly sizes: Record<string, number>;
  readonly T: number;
  readonly B: number;
  readonly params: Record<string, Float64Array>;
  readonly inputs: Record<string, Float64Array>;
  readonly initialState: Record<string, Float64Array>;
}

/** A cell with a loss on `output`, fresh random weights, inputs, targets, weights (some 0 = padding). */
export function gradCase(cell: CellProgram, loss: LossKind, output: string, dims: { T: number; B: number; sizes: Record<string, number> }, seed: number): GradCase {
  const program = differentiate(withLoss(cell, { kind: loss, output }));
  const sizes = Object.fromEntries(cell.sizes.map((s) => [s.name, dims.sizes[s.name]!]));
  const random = new Random(seed);
  const { T, B } = dims;
  const params = Object.fromEntries(Object.entries(randomParams(cell, sizes, random)).map(([k, v]) => [k, Float64Array.from(v)]));
  const inputs = Object.fromEntries(Object.entries(randomInputs(cell, sizes, T, B, random)).map(([k, v]) => [k, Float64Array.from(v)]));
  const n = program.forward.inputs.find((i) => i.name === TARGET)!.shape[0]!.evaluate(sizes);
  const target = new Float64Array(T * B * n);
  for (let r = 0; r < T * B; r++) {
    if (loss === 'softmax-ce') target[r * n + Math.floor(random.uniform() * n)] = 1;
    else for (let i = 0; i < n; i++) target[r * n + i] = loss === 'sigmoid-bce' ? random.uniform() : 2 * random.uniform() - 1;
  }
  // a padded tail in the last sequence, and a mean over the valid steps
  const weight = new Float64Array(T * B).fill(1);
  for (let t = T - 2; t < T; t++) weight[t * B + (B - 1)] = 0;
  const valid = weight.reduce((a, b) => a + b, 0);
  weight.forEach((w, i) => (weight[i] = w / valid));
  inputs[TARGET] = target;
  inputs[WEIGHT] = weight;
  const initialState: Record<string, Float64Array> = {};
  for (const s of cell.states) {
    const size = s.shape.reduce((a, d) => a * d.evaluate(sizes), 1);
    initialState[s.name] = Float64Array.from({ length: s.maxLag * B * size }, () => random.uniform() - 0.5);
  }
  return { program, sizes, T, B, params, inputs, initialState };
}

export function lossOf(c: GradCase, params = c.params, inputs = c.inputs, initialState = c.initialState): number {
  const r = referenceForward(c.program.forward, { params, inputs, sizes: c.sizes, T: c.T, B: c.B, initialState });
  const losses = r.results[LOSS]!;
  const weight = inputs[WEIGHT]!;
  let total = 0;
  for (let i = 0; i < losses.length; i++) total += losses[i]! * weight[i]!;
  return total;
}

/** Central difference of the loss along element i of one tensor. */
export function finiteDifference(c: GradCase, where: 'params' | 'inputs' | 'initialState', name: string, i: number, eps = 1e-6): number {
  const shifted = (delta: number) => {
    const copy = { ...c[where] };
    const tensor = Float64Array.from(copy[name]!);
    tensor[i]! += delta;
    copy[name] = tensor;
    return lossOf(c, where === 'params' ? copy : c.params, where === 'inputs' ? copy : c.inputs, where === 'initialState' ? copy : c.initialState);
  };
  return (shifted(eps) - shifted(-eps)) / (2 * eps);
}

/** Indices to probe: all of a small tensor, else a spread sample. */
export function probes(length: number, count = 12): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.floor(((k + 0.5) * length) / count));
}

/** |a - b| / max(|a|, |b|, floor): relative error that tolerates tiny gradients. */
export function relativeError(a: number, b: number, floor = 1e-4): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}
