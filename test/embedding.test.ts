/**
 * Token-id inputs (`x: onehot[V]`): the rewrite of `W @ x[t]` into a gather, the GPU forward
 * against the float64 reference and against the same cell reading dense one-hot floats,
 * GPU gradients (the embedding's by the scatter-add post kernel, with repeated ids) against
 * the reference, the reference against finite differences, and the rejection of bad ids.
 * GPU tests fail, never skip, without an adapter.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { oneHot } from '../compiler/char-model.js';
import { lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { TARGET, WEIGHT } from '../compiler/loss.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { compare } from '../runtime/compare.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';
import { gpuVersusReference } from './gpu-helpers.js';
import { type GradCase, finiteDifference, gradCase, probes, relativeError } from './grad-helpers.js';

afterAll(releaseDevice);

const CHARLM = readFileSync('examples/charlm.seq', 'utf8');
/** The same cell with the dense input it had before: one-hot floats [T, B, V]. */
const DENSE_CHARLM = CHARLM.replace('x: onehot[V]', 'x: [V]');

/** An Elman RNN reading its id input twice: through W (a gather) and elementwise (c * x). */
const ELMAN = `cell OneHotElman(x: onehot[H]) -> h {
  param W: [H, H] = xavier
  param U: [H, H] = orthogonal
  param c: [H]    = ones
  param b: [H]    = zeros
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + U @ h[t-1] + c * x[t] + b)
}
`;

/** One weight read as an embedding and as a dense matrix: its gradient mixes a scatter and an outer product. */
const SHARED = `cell Shared(x: onehot[I], u: [I]) -> h {
  param W: [H, I] = xavier
  param U: [H, H] = orthogonal
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + W @ u[t] + U @ h[t-1])
}
`;

const lower = (source: string): CellProgram => lowerSource(source, 'embedding.seq');
const T = 5;
const B = 3;
const CHAR_SIZES = { V: 7, E: 4, H: 5 };

describe('the gather rewrite', () => {
  it('turns W @ x[t] of a onehot input into a gather, and leaves a dense input a matmul', () => {
    const ids = lower(CHARLM);
    const dense = lower(DENSE_CHARLM);
    const readsX = (p: CellProgram, op: string) => p.eqns.some((e) => e.op === op && p.eqns[e.args[1]!]!.op === 'input');
    expect(readsX(ids, 'gather')).toBe(true);
    expect(readsX(ids, 'matmul')).toBe(false);
    // no V-long dot product is left: no matmul has a weight with V columns
    expect(ids.eqns.some((e) => e.op === 'matmul' && ids.eqns[e.args[0]!]!.type.shape[1]!.toString() === 'V')).toBe(false);
    expect(readsX(dense, 'matmul')).toBe(true);
    expect(readsX(dense, 'gather')).toBe(false);
  });

  it("an elementwise use keeps the one-hot meaning: the step kernel compares the id with the index", () => {
    const plan = buildLaunchPlan(lower(ELMAN));
    const wgsl = plan.kernels.map((k) => k.variants[0]!.wgsl).join('\n');
    expect(wgsl).toMatch(/select\(0\.0, 1\.0, id\d+ == j0/);
    expect(plan.buffers.find((b) => b.kind === 'input' && b.name === 'x')!.elements).toEqual([[1]]);
  });

  it('an embedding gradient is a scatter-add post kernel; a gradient mixing it with a dense product is not', () => {
    const scatterAdds = (source: string) =>
      buildTrainingPlans(lower(source), { kind: 'mse', output: 'h' }).backward.kernels.filter((k) => k.phase === 'post' && /= grads\[[^\]]*id\d+[^\]]*\] \+ v\d+;/.test(k.variants[0]!.wgsl)).length;
    expect(scatterAdds(ELMAN)).toBe(1);
    expect(scatterAdds(SHARED)).toBe(0);
  });

  it('the reference of the id cell equals that of the dense cell given one-hot floats', () => {
    const ids = lower(CHARLM);
    const dense = lower(DENSE_CHARLM);
    const c = gradCase(ids, 'softmax-ce', 'y', { T, B, sizes: CHAR_SIZES }, 1);
    const run = { params: c.params, sizes: c.sizes, T, B, initialState: c.initialState };
    const a = referenceForward(ids, { ...run, inputs: { x: c.inputs['x']! } });
    const b = referenceForward(dense, { ...run, inputs: { x: oneHot(Int32Array.from(c.inputs['x']!), CHAR_SIZES.V) } });
    expect(compare(a.outputs['y']!, b.outputs['y']!, 1e-12, 1e-12).ok).toBe(true);
  });
});

/** The ids of a case's onehot input x, [T, B]. */
function ids(c: GradCase): Float64Array {
  return c.inputs['x']!;
}

const CASES = [
  ['CharLM', CHARLM, 'softmax-ce', 'y', CHAR_SIZES],
  ['OneHotElman', ELMAN, 'mse', 'h', { H: 6 }],
  ['Shared', SHARED, 'mse', 'h', { I: 5, H: 4 }],
] as const;

/** A case whose ids repeat within one batch (the scatter-add must sum them) and across steps. */
function idCase(source: string, loss: (typeof CASES)[number][2], output: string, sizes: Record<string, number>, seed: number): GradCase {
  const c = gradCase(lower(source), loss, output, { T, B, sizes }, seed);
  const x = ids(c);
  x[0] = x[1] = x[2]; // step 0: every example reads the same id
  return c;
}

describe('the reference gradients of id cells equal central finite differences (float64)', () => {
  it.each(CASES)('%s', (_name, source, loss, output, sizes) => {
    const c = idCase(source, loss, output, sizes, 7);
    const g = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T, B, initialState: c.initialState });
    expect(g.inputs).not.toHaveProperty('x');
    const check = (where: 'params' | 'initialState', name: string, analytic: Float64Array) => {
      for (const i of probes(analytic.length, 40)) {
        const numeric = finiteDifference(c, where, name, i);
        expect(relativeError(analytic[i]!, numeric), `${where} ${name}[${i}]: autodiff ${analytic[i]} vs finite difference ${numeric}`).toBeLessThan(1e-5);
      }
    };
    for (const [name, grad] of Object.entries(g.params)) check('params', name, grad);
    for (const [name, grad] of Object.entries(g.initialStates)) check('initialState', name, grad);
    // the embedding's gradient is nonzero only in the columns of ids that occur
    if (source === CHARLM) {
      const seen = new Set(Array.from(ids(c)));
      const { V, E } = CHAR_SIZES;
      for (let v = 0; v < V; v++) for (let e = 0; e < E; e++) expect(g.params['Emb']![e * V + v] !== 0, `dEmb[${e}, ${v}]`).toBe(seen.has(v));
    }
  });
});

describe('on the GPU', () => {
  it('the CharLM forward equals the reference, and the dense cell given one-hot floats', async () => {
    const results = await gpuVersusReference(lower(CHARLM), { T, B, sizes: CHAR_SIZES }, 3);
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max |gpu - f64| ${c.maxAbs}`).toBe(true);
    const c = idCase(CHARLM, 'softmax-ce', 'y', CHAR_SIZES, 5);
    const params = Object.fromEntries(Object.entries(c.params).map(([k, v]) => [k, Float32Array.from(v)]));
    const run = async (source: string, x: Float32Array | Int32Array) => {
      const model = await createModel(buildLaunchPlan(lower(source)), { sizes: CHAR_SIZES, batch: B });
      try {
        model.setParams(params);
        return (await model.forward(x, c.initialState)).outputs['y']!;
      } finally {
        model.dispose();
      }
    };
    const idsX = Int32Array.from(ids(c));
    const fromIds = await run(CHARLM, idsX);
    const fromFloats = await run(DENSE_CHARLM, oneHot(idsX, CHAR_SIZES.V));
    expect(compare(fromIds, fromFloats).ok, 'ids vs one-hot floats').toBe(true);
  });

  it('the OneHotElman forward equals the reference', async () => {
    const results = await gpuVersusReference(lower(ELMAN), { T, B, sizes: { H: 6 } }, 4);
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max |gpu - f64| ${c.maxAbs}`).toBe(true);
  });

  it.each(CASES)('%s: gradients of every parameter and initial state equal the reference (relative 1e-3)', async (_name, source, loss, output, sizes) => {
    const cell = lower(source);
    const c = idCase(source, loss, output, sizes, 11);
    const ref = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T, B, initialState: c.initialState });
    const model = await createModel(buildLaunchPlan(cell), { sizes: c.sizes, batch: B });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell, { kind: loss, output }));
    try {
      model.setParams(c.params);
      const inputs = Object.fromEntries(cell.inputs.map((i) => [i.name, i.onehot ? Uint32Array.from(c.inputs[i.name]!) : Float32Array.from(c.inputs[i.name]!)]));
      const g = await trainer.gradients({
        inputs,
        target: Float32Array.from(c.inputs[TARGET]!),
        mask: Float32Array.from(c.inputs[WEIGHT]!, (w) => (w > 0 ? 1 : 0)),
        initialState: c.initialState,
      });
      expect(relativeError(g.loss, ref.loss)).toBeLessThan(1e-5);
      expect(g.inputs).not.toHaveProperty('x');
      const check = (what: string, gpu: Float32Array | undefined, f64: Float64Array) => {
        expect(gpu?.length, what).toBe(f64.length);
        for (let i = 0; i < f64.length; i++) {
          expect(relativeError(gpu![i]!, f64[i]!, 1e-3), `${what}[${i}]: gpu ${gpu![i]} vs f64 ${f64[i]}`).toBeLessThan(1e-3);
        }
      };
      for (const [name, grad] of Object.entries(ref.params)) check(`d${name}`, g.params[name], grad);
      for (const [name, grad] of Object.entries(ref.initialStates)) check(`d${name}0`, g.initialStates[name], grad);
      // a second call gives the same embedding gradient: no stale sum survives in the buffer
      const again = await trainer.gradients({ inputs, target: Float32Array.from(c.inputs[TARGET]!), initialState: c.initialState, mask: Float32Array.from(c.inputs[WEIGHT]!, (w) => (w > 0 ? 1 : 0)) });
      for (const name of Object.keys(ref.params)) expect(Array.from(again.params[name]!), `d${name} twice`).toEqual(Array.from(g.params[name]!));
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('rejects ids out of range, fractional or negative, in forward and trainStep, and the reference does too', async () => {
    const cell = lower(ELMAN);
    const sizes = { H: 6 };
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B, training: { optimizer: { kind: 'sgd', learningRate: 0.1 } } }, buildTrainingPlans(cell, { kind: 'mse', output: 'h' }));
    try {
      const good = Int32Array.from({ length: T * B }, (_, i) => i % 6);
      await expect(model.forward(good)).resolves.toBeDefined();
      const bad = (at: number, id: number) => {
        const x = Float32Array.from(good);
        x[at] = id;
        return x;
      };
      await expect(model.forward(bad(4, 6))).rejects.toThrow('input x: id 6 at step 1, example 1 is not a whole number in [0, 6)');
      await expect(model.forward(bad(0, -1))).rejects.toThrow('id -1 at step 0, example 0');
      await expect(model.forward(bad(14, 2.5))).rejects.toThrow('id 2.5 at step 4, example 2');
      await expect(model.forward(Int32Array.of(0, 1))).rejects.toThrow('not a whole number of steps of 3 ids');
      const target = new Float32Array(T * B * 6);
      await expect(model.trainStep({ x: bad(7, 99), target })).rejects.toThrow('input x: id 99 at step 2, example 1');
      const before = await model.getParams();
      await expect(model.trainStep({ x: Uint32Array.from(good), target })).resolves.toBeTypeOf('number');
      expect(Array.from((await model.getParams())['W'])).not.toEqual(Array.from(before['W']));
    } finally {
      model.dispose();
    }
    const params = { W: new Float32Array(36), U: new Float32Array(36), c: new Float32Array(6), b: new Float32Array(6) };
    expect(() => referenceForward(cell, { params, inputs: { x: Float32Array.of(0, 1, 6) }, sizes, T: 1, B: 3 })).toThrow('id 6 at 2 is not a whole number in [0, 6)');
  });
});
