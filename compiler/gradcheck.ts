/**
 * `seqc gradcheck`: the GPU's f32 gradients of every parameter, input (but onehot inputs,
 * whose ids have none) and initial state against float64 central finite differences of the
 * CPU reference's loss, on small random sizes, fresh random weights, inputs, targets and
 * padding weights.
 */
import { buildLaunchPlan } from './launch-plan.js';
import { type Differentiated, differentiate } from './autodiff.js';
import type { CellProgram } from './ir.js';
import { LOSS, type LossKind, TARGET, WEIGHT, withLoss } from './loss.js';

export { defaultLoss } from './loss.js';
import { randomInputs, randomParams } from './random-data.js';
import { buildTrainingPlans } from './training.js';
import { Random } from '../runtime/init.js';
import { createModel } from '../runtime/index.js';
import { stepSeed } from '../runtime/random.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';

export interface GradCase {
  readonly program: Differentiated;
  readonly loss: LossKind;
  readonly output: string;
  readonly sizes: Record<string, number>;
  readonly T: number;
  readonly B: number;
  readonly params: Record<string, Float64Array>;
  readonly inputs: Record<string, Float64Array>;
  readonly initialState: Record<string, Float64Array>;
  /** the dropout seed: what a trainer with the default seed draws for its first gradients */
  readonly seed: number;
}

/** Fresh random weights, inputs, targets and weights (the last two steps of one sequence are padding). */
export function gradCase(cell: CellProgram, loss: LossKind, output: string, dims: { T: number; B: number; sizes: Readonly<Record<string, number>> }, seed: number): GradCase {
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
  const weight = new Float64Array(T * B).fill(1);
  for (let t = Math.max(1, T - 2); t < T; t++) weight[t * B + (B - 1)] = 0;
  // with per-sequence lengths the loss, as in training, counts only the steps within them
  const mask = cell.inputs.find((i) => i.mask);
  if (mask) inputs[mask.name]!.forEach((m, i) => (weight[i] *= m));
  const valid = weight.reduce((a, b) => a + b, 0);
  weight.forEach((w, i) => (weight[i] = w / valid));
  inputs[TARGET] = target;
  inputs[WEIGHT] = weight;
  const initialState: Record<string, Float64Array> = {};
  for (const s of cell.states) {
    const size = s.shape.reduce((a, d) => a * d.evaluate(sizes), 1);
    initialState[s.name] = Float64Array.from({ length: s.maxLag * B * size }, () => random.uniform() - 0.5);
  }
  return { program, loss, output, sizes, T, B, params, inputs, initialState, seed: stepSeed(0, 0) };
}

export function lossOf(c: GradCase, params = c.params, inputs = c.inputs, initialState = c.initialState): number {
  // the masks are fixed by the seed, so the loss is a smooth function of what is perturbed
  const r = referenceForward(c.program.forward, { params, inputs, sizes: c.sizes, T: c.T, B: c.B, initialState, seed: c.seed });
  const losses = r.results[LOSS]!;
  const weight = inputs[WEIGHT]!;
  let total = 0;
  for (let i = 0; i < losses.length; i++) total += losses[i]! * weight[i]!;
  return total;
}

export type Where = 'params' | 'inputs' | 'initialState';

/** Central difference of the float64 loss along element i of one tensor. */
export function finiteDifference(c: GradCase, where: Where, name: string, i: number, eps = 1e-6): number {
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
export function probes(length: number, count = 24): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.floor(((k + 0.5) * length) / count));
}

/** |a - b| / max(|a|, |b|, floor): relative error that tolerates gradients near zero. */
export function relativeError(a: number, b: number, floor = 1e-4): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}

export interface TensorCheck {
  readonly tensor: string;
  readonly worst: number;
  readonly checked: number;
  readonly at?: { readonly index: number; readonly gpu: number; readonly numeric: number };
}

/** GPU gradients of a case against finite differences, per tensor. */
export async function gradcheck(cell: CellProgram, c: GradCase): Promise<TensorCheck[]> {
  const model = await createModel(buildLaunchPlan(cell), { sizes: c.sizes, batch: c.B });
  const trainer = await Trainer.create(model, buildTrainingPlans(cell, { kind: c.loss, output: c.output }));
  try {
    model.setParams(c.params);
    const inputs: Record<string, Float32Array> = {};
    for (const i of cell.inputs) inputs[i.name] = Float32Array.from(c.inputs[i.name]!);
    const g = await trainer.gradients({
      inputs,
      target: Float32Array.from(c.inputs[TARGET]!),
      mask: Float32Array.from(c.inputs[WEIGHT]!, (w) => (w > 0 ? 1 : 0)),
      initialState: c.initialState,
    });
    const checks: TensorCheck[] = [];
    const check = (where: Where, name: string, label: string, gpu: Float32Array | undefined) => {
      const length = c[where][name]!.length;
      let worst = 0;
      let at: TensorCheck['at'];
      const indices = probes(length);
      for (const i of indices) {
        const numeric = finiteDifference(c, where, name, i);
        const value = gpu?.[i] ?? 0;
        // float32 on the device: a gradient below 1e-3 is compared absolutely
        const error = relativeError(value, numeric, 1e-3);
        if (error >= worst) {
          worst = error;
          at = { index: i, gpu: value, numeric };
        }
      }
      checks.push({ tensor: label, worst, checked: indices.length, ...(at ? { at } : {}) });
    };
    for (const p of cell.params) check('params', p.name, `param ${p.name}`, g.params[p.name]);
    // ids have no gradient (a step of an id is not small), nor have masks (data), so none is probed
    for (const i of cell.inputs) if (!i.onehot && !i.mask && !i.binary) check('inputs', i.name, `input ${i.name}`, g.inputs[i.name]);
    for (const s of cell.states) check('initialState', s.name, `initial ${s.name}`, g.initialStates[s.name]);
    return checks;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
