/**
 * `seqc gradcheck` of a model: the GPU gradients of every parameter of every layer, both
 * directions and the head (LayeredModel.gradients, each cell's backward chained by the
 * host) against float64 central finite differences of the whole model's loss through the
 * CPU reference (compiler/model-reference.ts), on fresh random weights, inputs, targets and
 * per-sequence lengths.
 */
import { Random } from '../runtime/init.js';
import { LayeredModel } from '../runtime/layered.js';
import type { CompiledModel } from './compile-model.js';
import { type TensorCheck, probes, relativeError } from './gradcheck.js';
import { type ModelData, modelReference } from './model-reference.js';
import { randomLengths, randomParams } from './random-data.js';

export interface ModelGradcheckOptions {
  readonly T: number;
  readonly B: number;
  readonly seed: number;
  /** elements probed per tensor (default 24) */
  readonly probes?: number;
  readonly device?: GPUDevice;
}

export interface ModelGradcheck {
  readonly lengths: Int32Array;
  /** the device's loss against the reference's, then one check per parameter */
  readonly checks: readonly TensorCheck[];
}

/** A cell whose dropout a layered model applies only within its own training step cannot be checked as a whole. */
export function dropoutLayer(compiled: CompiledModel): string | undefined {
  return [...compiled.layers, compiled.head].find((l) => l.program.eqns.some((e) => e.op === 'dropout_mask'))?.program.name;
}

/** Random parameters of every cell, named as LayeredModel.getParams names them. */
export function randomModelParams(compiled: CompiledModel, random: Random): Record<string, Float32Array> {
  const params: Record<string, Float32Array> = {};
  const add = (prefix: string, drawn: Record<string, Float32Array>) => Object.entries(drawn).forEach(([k, v]) => (params[`${prefix}${k}`] = v));
  compiled.layers.forEach((layer, l) => {
    add(`${l}.forward.`, randomParams(layer.program, layer.sizes, random));
    if (layer.bidirectional) add(`${l}.reverse.`, randomParams(layer.program, layer.sizes, random));
  });
  add('head.', randomParams(compiled.head.program, compiled.head.sizes, random));
  return params;
}

/** Inputs, lengths and a target for the model's loss, drawn as `seqc gradcheck` draws them for a cell. */
export function randomModelData(compiled: CompiledModel, T: number, B: number, random: Random): ModelData & { x: Float32Array; target: Float32Array; lengths: Int32Array } {
  const { model, sizes } = compiled;
  const n = model.input.dim.evaluate(sizes);
  const x = model.input.onehot
    ? Float32Array.from({ length: T * B }, () => Math.min(n - 1, Math.floor(random.uniform() * n)))
    : Float32Array.from({ length: T * B * n }, () => 2 * random.uniform() - 1);
  const lengths = randomLengths(T, B, random);
  const k = model.layers[model.layers.length - 1]!.output.evaluate(sizes);
  const target = new Float32Array(T * B * k);
  for (let r = 0; r < T * B; r++) {
    if (model.loss.kind === 'softmax-ce') target[r * k + Math.floor(random.uniform() * k)] = 1;
    else for (let i = 0; i < k; i++) target[r * k + i] = model.loss.kind === 'sigmoid-bce' ? random.uniform() : 2 * random.uniform() - 1;
  }
  return { x, target, lengths, T, B };
}

export async function modelGradcheck(compiled: CompiledModel, options: ModelGradcheckOptions): Promise<ModelGradcheck> {
  const dropout = dropoutLayer(compiled);
  if (dropout) throw new Error(`cell ${dropout} has dropout, which a layered model applies only within each cell's own training step; check that cell alone`);
  const { T, B } = options;
  const random = new Random(options.seed);
  const params = randomModelParams(compiled, random);
  const data = randomModelData(compiled, T, B, random);
  const reference = modelReference(compiled.model, compiled.sizes);
  const f64 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));
  const model = await LayeredModel.create(compiled.layers, compiled.head, { batch: B, training: { clipNorm: 0 }, ...(options.device ? { device: options.device } : {}) });
  try {
    model.setParams(params);
    const g = await model.gradients({ x: data.x, target: data.target, lengths: data.lengths });
    const expected = reference(f64, data).loss;
    const checks: TensorCheck[] = [{ tensor: 'loss', worst: relativeError(g.loss, expected), checked: 1, at: { index: 0, gpu: g.loss, numeric: expected } }];
    for (const [name, value] of Object.entries(f64)) {
      let worst = 0;
      let at: TensorCheck['at'];
      const indices = probes(value.length, options.probes);
      for (const i of indices) {
        const eps = 1e-6;
        const shifted = (d: number) => {
          const moved = Float64Array.from(value);
          moved[i]! += d;
          return reference({ ...f64, [name]: moved }, data).loss;
        };
        const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
        const gpu = g.params[name]?.[i] ?? 0;
        // float32 on the device: a gradient below 1e-3 is compared absolutely
        const error = relativeError(gpu, numeric, 1e-3);
        if (error >= worst) {
          worst = error;
          at = { index: i, gpu, numeric };
        }
      }
      checks.push({ tensor: name, worst, checked: indices.length, ...(at ? { at } : {}) });
    }
    return { lengths: data.lengths, checks };
  } finally {
    model.dispose();
  }
}
