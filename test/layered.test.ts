/**
 * A layered model (runtime/layered.ts) of two bidirectional LSTM layers, the first reading
 * token ids through an embedding, and a per-step readout head, with per-sequence lengths:
 * the gradient of one training step (SGD, learning rate 1, no clipping, so the update is
 * minus the gradient) of every cell of every layer and direction against float64 finite
 * differences of the whole model's loss, composed from the CPU reference of each cell.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { VALID, withLengths } from '../compiler/lengths.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { randomParams } from '../compiler/random-data.js';
import { probes, relativeError } from '../compiler/gradcheck.js';
import { Random } from '../runtime/init.js';
import { releaseDevice } from '../runtime/index.js';
import { LayeredModel } from '../runtime/layered.js';
import { reverseWithin, validMask } from '../runtime/lengths.js';
import { referenceForward } from '../runtime/reference.js';

afterAll(releaseDevice);

const SOURCE = `
cell LSTM(x: [I]) -> h {
  param W: [4*H, I] = xavier
  param U: [4*H, H] = orthogonal
  param b: [4*H] = zeros
  state h: [H] = 0
  state c: [H] = 0
  let i, f, g, o = split(W @ x[t] + U @ h[t-1] + b, 4)
  c[t] = sigmoid(f) * c[t-1] + sigmoid(i) * tanh(g)
  h[t] = sigmoid(o) * tanh(c[t])
}
cell Embedded(x: onehot[V]) -> y {
  param Emb: [E, V] = normal(0.1)
  y[t] = LSTM(Emb @ x[t])
}
cell Head(x: [I]) -> y {
  param W: [K, I] = xavier
  param b: [K] = zeros
  y[t] = W @ x[t] + b
}
`;
const cells = (name: string): CellProgram => withLengths(lowerSource(SOURCE, 'tagger.seq', name));
const [T, B] = [5, 3];
const LENGTHS = Int32Array.of(5, 2, 4);
const sizes = { first: { V: 7, E: 3, H: 4 }, second: { I: 8, H: 4 }, head: { I: 8, K: 5 } };

type Params = Record<string, Float64Array>;

/** One cell over the batch in float64, outputs zero past each length (as the runtime gives them). */
function run(cell: CellProgram, params: Params, x: Float64Array, cellSizes: Record<string, number>): Float64Array {
  const r = referenceForward(cell, { params, inputs: { x, [VALID]: Float64Array.from(validMask(LENGTHS, T, B)) }, sizes: cellSizes, T, B });
  const y = r.outputs[cell.outputs[0]!]!;
  const n = y.length / (T * B);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) if (t >= LENGTHS[b]!) y.fill(0, (t * B + b) * n, (t * B + b + 1) * n);
  return y;
}

function bidirectional(cell: CellProgram, forward: Params, reverse: Params, x: Float64Array, cellSizes: Record<string, number>): Float64Array {
  const f = run(cell, forward, x, cellSizes);
  const r = reverseWithin(run(cell, reverse, reverseWithin(x, LENGTHS, T, B), cellSizes), LENGTHS, T, B);
  const n = f.length / (T * B);
  const out = new Float64Array(2 * f.length);
  for (let row = 0; row < T * B; row++) {
    out.set(f.subarray(row * n, (row + 1) * n), row * 2 * n);
    out.set(r.subarray(row * n, (row + 1) * n), row * 2 * n + n);
  }
  return out;
}

describe('a layered model: two bidirectional LSTM layers and a readout, with lengths', () => {
  it('trains every cell on the gradient of the whole model (float64 finite differences)', async () => {
    const [first, second, head] = [cells('Embedded'), cells('LSTM'), cells('Head')];
    const random = new Random(17);
    const ids = Float32Array.from({ length: T * B }, () => Math.floor(random.uniform() * sizes.first.V));
    const labels = Int32Array.from({ length: T * B }, () => Math.floor(random.uniform() * sizes.head.K));
    const target = new Float32Array(T * B * sizes.head.K);
    labels.forEach((k, i) => (target[i * sizes.head.K + k] = 1));
    const draw = (cell: CellProgram, cellSizes: Record<string, number>) => randomParams(cell, cellSizes, random);
    const initial = {
      f0: draw(first, sizes.first), r0: draw(first, sizes.first), f1: draw(second, sizes.second), r1: draw(second, sizes.second), head: draw(head, sizes.head),
    };
    const f64 = (p: Record<string, Float32Array>): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float64Array.from(v)]));
    const loss = (p: Record<keyof typeof initial, Params>): number => {
      const h0 = bidirectional(first, p.f0, p.r0, Float64Array.from(ids), sizes.first);
      const h1 = bidirectional(second, p.f1, p.r1, h0, sizes.second);
      const logits = run(head, p.head, h1, sizes.head);
      const K = sizes.head.K;
      let total = 0;
      let count = 0;
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
        if (t >= LENGTHS[b]!) continue;
        const row = logits.subarray((t * B + b) * K, (t * B + b + 1) * K);
        const max = Math.max(...row);
        total += max + Math.log(row.reduce((s, z) => s + Math.exp(z - max), 0)) - row[labels[t * B + b]!]!;
        count++;
      }
      return total / count;
    };

    const training = (cell: CellProgram, kind: 'cotangent' | 'softmax-ce') => buildTrainingPlans(cell, { kind, output: cell.outputs[0]! });
    const model = await LayeredModel.create(
      [
        { plan: buildLaunchPlan(first), training: training(first, 'cotangent'), sizes: sizes.first, bidirectional: true },
        { plan: buildLaunchPlan(second), training: training(second, 'cotangent'), sizes: sizes.second, bidirectional: true },
      ],
      { plan: buildLaunchPlan(head), training: training(head, 'softmax-ce'), sizes: sizes.head },
      { batch: B, training: { optimizer: { kind: 'sgd', learningRate: 1 }, clipNorm: 0 } },
    );
    try {
      const models = { f0: model.layers[0]!.models[0]!, r0: model.layers[0]!.models[1]!, f1: model.layers[1]!.models[0]!, r1: model.layers[1]!.models[1]!, head: model.head };
      for (const [key, m] of Object.entries(models)) m.setParams(initial[key as keyof typeof initial]);
      const before = Object.fromEntries(Object.entries(initial).map(([k, p]) => [k, f64(p)])) as Record<keyof typeof initial, Params>;
      const expected = run(head, before.head, bidirectional(second, before.f1, before.r1, bidirectional(first, before.f0, before.r0, Float64Array.from(ids), sizes.first), sizes.second), sizes.head);
      const logits = await model.forward(ids, LENGTHS);
      expect(logits.length).toBe(expected.length);
      expect(Math.max(...logits.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThan(1e-5);
      // where forward's time goes: every cell on the input forward gives it, and forward unchanged after
      const profiled = await model.profile(ids, LENGTHS, 1);
      expect(profiled.map((p) => p.model)).toEqual(['0.forward', '0.reverse', '1.forward', '1.reverse', 'head']);
      for (const { model: name, kernels } of profiled) {
        expect(kernels[0]!.kernel, name).toMatch(/^whole forward/);
        expect(kernels.length, name).toBeGreaterThan(1);
        for (const k of kernels) expect(k.ms, `${name} ${k.kernel}`).toBeGreaterThan(0);
      }
      expect(profiled.at(-1)!.kernels.slice(1).every((k) => k.kernel.startsWith('Head/'))).toBe(true);
      expect(await model.forward(ids, LENGTHS)).toEqual(logits);
      const gpuLoss = await model.trainStep({ x: ids, target, lengths: LENGTHS });
      expect(gpuLoss).toBeCloseTo(loss(before), 5);
      let checked = 0;
      for (const [key, m] of Object.entries(models) as [keyof typeof initial, (typeof models)['head']][]) {
        const after = await m.getParams();
        for (const [name, value] of Object.entries(before[key])) {
          for (const i of probes(value.length, 6)) {
            const gpu = value[i]! - after[name]![i]!;
            const eps = 1e-6;
            const shifted = (d: number) => loss({ ...before, [key]: { ...before[key], [name]: value.map((v, j) => (j === i ? v + d : v)) } });
            const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
            expect(relativeError(gpu, numeric), `${key}.${name}[${i}]: gpu ${gpu}, finite difference ${numeric}`).toBeLessThanOrEqual(1e-3);
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(40);
    } finally {
      model.dispose();
    }
  });
});
