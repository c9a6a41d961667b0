/**
 * Dropout: the counter-based RNG computes the same bits on the CPU and on the device; masks
 * are reproducible from the seed, keep 1 - p of the elements scaled by 1/(1-p), change at
 * every step (dropout) or not at all (recurrent_dropout); training on the GPU draws the same
 * masks as the float64 reference in every kind of kernel, forward and backward; the
 * reference gradients with masks equal finite differences; inference ignores dropout.
 * GPU tests fail, never skip, without an adapter.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.js';
import { lowerSource } from '../compiler/frontend.js';
import { withoutDropout } from '../compiler/inference.js';
import { type CellProgram, printProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { withLoss } from '../compiler/loss.js';
import { DROPOUT_MASK } from '../compiler/ops.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { f32Literal } from '../compiler/wgsl.js';
import { getDevice } from '../runtime/device.js';
import { Random } from '../runtime/init.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { RANDOM_WGSL, keepThreshold, random24, stepSeed } from '../runtime/random.js';
import { referenceForward } from '../runtime/reference.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { Trainer } from '../runtime/trainer.js';
import { finiteDifference, gradCase, probes, relativeError } from './grad-helpers.js';

afterAll(releaseDevice);

/**
 * An LSTM with input dropout, recurrent dropout on h[t-1], and dropout on a scaled readout
 * (so that the gradient of s sums a masked value in a post kernel).
 */
const LSTM = (dropout: boolean) => `cell DropLSTM(x: [I]) -> h, y {
  param W: [4*H, I] = xavier
  param U: [4*H, H] = orthogonal
  param b: [4*H] = blocks(0, 1, 0, 0)
  param V: [O, H] = xavier
  param s: [O] = ones
  param d: [O] = zeros
  state h: [H] = 0
  state c: [H] = 0

  let i, f, g, o = split(W @ ${dropout ? 'dropout(x[t], 0.3)' : 'x[t]'} + U @ ${dropout ? 'recurrent_dropout(h[t-1], 0.25)' : 'h[t-1]'} + b, 4)
  c[t] = sigmoid(f) * c[t-1] + sigmoid(i) * tanh(g)
  h[t] = sigmoid(o) * tanh(c[t])
  y[t] = s * ${dropout ? 'dropout(V @ h[t], 0.2)' : '(V @ h[t])'} + d
}`;
const cell = (dropout = true): CellProgram => lowerSource(LSTM(dropout), 'drop-lstm.seq');
const DIMS = { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5 } };

/** A cell whose readouts are masks (its input is all ones): two dropout sites, one recurrent. */
const MASKS = lowerSource(
  `cell Masks(x: [N]) -> a, a2, r {
     a[t] = dropout(x[t], 0.3)
     a2[t] = dropout(x[t], 0.3)
     r[t] = recurrent_dropout(x[t], 0.3)
   }`,
  'masks.seq',
);

function masks(seed: number, T: number, B: number, N: number): Record<string, Float64Array> {
  const r = referenceForward(MASKS, { params: {}, inputs: { x: new Float64Array(T * B * N).fill(1) }, sizes: { N }, T, B, seed });
  return r.outputs;
}

const differing = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).filter((v, i) => v !== b[i]).length;

describe('dropout masks (CPU reference)', () => {
  // Pinned (and computed independently, in Python, from the same definition): a change to
  // the hash would silently change every user's masks for a given seed.
  it('the hash is lowbias32 chained over (seed, stream, t, b, j), as pinned', () => {
    expect(random24(0, 0, 0, 0, 0)).toBe(961141);
    expect(random24(1, 2, 3, 4, 5)).toBe(11328525);
    expect(random24(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toBe(9223964);
    expect(stepSeed(0, 0)).toBe(2926543089);
    expect(stepSeed(42, 7)).toBe(3398028609);
  });

  const [T, B, N] = [20, 8, 64];

  it('are reproducible from the seed and differ for another seed', () => {
    const first = masks(7, T, B, N);
    expect(masks(7, T, B, N)).toEqual(first);
    const other = masks(8, T, B, N);
    // two independent masks with p = 0.3 disagree on 2 * 0.3 * 0.7 = 42% of the elements
    for (const name of ['a', 'r']) expect(differing(first[name]!, other[name]!) / (T * B * N)).toBeGreaterThan(0.35);
  });

  it('keep 1 - p of the elements, within 4 standard errors, each scaled by exactly 1/(1-p)', () => {
    const { a } = masks(3, T, B, N);
    const n = T * B * N;
    const kept = a!.filter((v) => v !== 0);
    expect(kept.every((v) => v === 1 / (1 - 0.3))).toBe(true);
    expect(a!.every((v) => v === 0 || v === 1 / (1 - 0.3))).toBe(true);
    const se = Math.sqrt((0.3 * 0.7) / n);
    expect(Math.abs(kept.length / n - 0.7)).toBeLessThan(4 * se);
  });

  it('recurrent masks are the same at every step, per example; ordinary masks are not', () => {
    const { a, r } = masks(5, T, B, N);
    const row = B * N;
    for (let t = 1; t < T; t++) {
      expect(Array.from(r!.subarray(t * row, (t + 1) * row))).toEqual(Array.from(r!.subarray(0, row)));
      expect(differing(a!.subarray(t * row, (t + 1) * row), a!.subarray(0, row))).toBeGreaterThan(row / 4);
    }
    // ... and differ between the examples of a batch
    expect(differing(r!.subarray(0, N), r!.subarray(N, 2 * N))).toBeGreaterThan(N / 4);
  });

  it('two call sites never share a mask', () => {
    const { a, a2 } = masks(5, T, B, N);
    expect(differing(a!, a2!) / (T * B * N)).toBeGreaterThan(0.35);
  });

  it('the IR shows each mask with its probability, stream and kind', () => {
    const text = printProgram(cell());
    expect(text).toMatch(/= dropout_mask \{p: 0.3, stream: 0, per step\}\n/);
    expect(text).toMatch(/= dropout_mask \{p: 0.25, stream: 1, per sequence\}\n/);
    expect(text).toMatch(/= dropout_mask \{p: 0.2, stream: 2, per step\}\n/);
  });

  it('the backward redraws the forward masks: each stream appears once in each pass', () => {
    const { forward, backward } = differentiate(withLoss(cell(), { kind: 'mse', output: 'y' }));
    const streams = (p: CellProgram) => p.eqns.filter((e) => e.op === 'dropout_mask').map((e) => e.attrs.stream).sort();
    expect(streams(forward)).toEqual([0, 1, 2]);
    expect(streams(backward)).toEqual([0, 1, 2]);
  });
});

describe('inference ignores dropout', () => {
  it('the inference program is the cell without dropout, and computes the same', () => {
    const inference = withoutDropout(cell());
    expect(inference.eqns.some((e) => e.op === 'dropout_mask')).toBe(false);
    expect(printProgram(inference)).toBe(printProgram(cell(false)));
    const random = new Random(2);
    const sizes = DIMS.sizes;
    const params = randomParams(cell(), sizes, random);
    const inputs = randomInputs(cell(), sizes, DIMS.T, DIMS.B, random);
    const run = { params, inputs, sizes, T: DIMS.T, B: DIMS.B, seed: 9 };
    expect(referenceForward(inference, run).outputs).toEqual(referenceForward(cell(false), run).outputs);
    // while the training program's masks do change the result
    expect(referenceForward(cell(), run).outputs['y']).not.toEqual(referenceForward(cell(false), run).outputs['y']);
  });
});

describe('gradients with dropout (float64, CPU) equal finite differences', () => {
  it('of every parameter, input and initial state, with the masks the seed fixes', () => {
    const c = gradCase(cell(), 'mse', 'y', DIMS, 4);
    const g = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState, seed: c.seed });
    const check = (where: 'params' | 'inputs' | 'initialState', name: string, analytic: Float64Array) => {
      for (const i of probes(analytic.length)) {
        const numeric = finiteDifference(c, where, name, i);
        expect(relativeError(analytic[i]!, numeric), `${where} ${name}[${i}]: autodiff ${analytic[i]} vs finite difference ${numeric}`).toBeLessThan(1e-5);
      }
    };
    for (const [name, grad] of Object.entries(g.params)) check('params', name, grad);
    check('inputs', 'x', g.inputs['x']!);
    for (const [name, grad] of Object.entries(g.initialStates)) check('initialState', name, grad);
    // dropped inputs get no gradient: about 30% of dx is exactly 0, where no input is dropped without dropout
    const zeros = g.inputs['x']!.filter((v) => v === 0).length / g.inputs['x']!.length;
    expect(zeros).toBeGreaterThan(0.1);
    const other = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState, seed: c.seed + 1 });
    expect(Math.abs(other.loss - g.loss)).toBeGreaterThan(1e-6);
  });
});

/** Runs a one-binding-in, one-binding-out compute shader over `count` invocations. */
async function runShader(code: string, input: Uint32Array, count: number): Promise<ArrayBuffer> {
  const { device } = await getDevice();
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const source = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(source, 0, input);
  const out = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: source } }, { binding: 1, resource: { buffer: out } }] });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(Math.ceil(count / 64));
  pass.end();
  encoder.copyBufferToBuffer(out, 0, staging, 0, count * 4);
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error) throw new Error(error.message);
  await staging.mapAsync(GPUMapMode.READ);
  const bytes = staging.getMappedRange().slice(0);
  [source, out, staging].forEach((b) => b.destroy());
  return bytes;
}

const shader = (body: string, out: 'u32' | 'f32') => `${RANDOM_WGSL}
@group(0) @binding(0) var<storage, read> counters: array<u32>;
@group(0) @binding(1) var<storage, read_write> result: array<${out}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&result)) { return; }
  let seed = counters[5u * i];
  let stream = counters[5u * i + 1u];
  let t = counters[5u * i + 2u];
  let b = counters[5u * i + 3u];
  let j = counters[5u * i + 4u];
  result[i] = ${body};
}`;

/** Random counters, with the extremes of u32 among them. */
function counters(count: number, seed: number): Uint32Array {
  const random = new Random(seed);
  const c = Uint32Array.from({ length: 5 * count }, () => Math.floor(random.uniform() * 2 ** 32));
  c.set([0, 0, 0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0);
  return c;
}

describe('the RNG on the GPU', () => {
  it('computes the CPU hash bit for bit on random (seed, stream, t, b, j)', async () => {
    const count = 4096;
    const c = counters(count, 1);
    const gpu = new Uint32Array(await runShader(shader('seqc_random24(seed, stream, t, b, j)', 'u32'), c, count));
    const cpu = Uint32Array.from({ length: count }, (_, i) => random24(c[5 * i]!, c[5 * i + 1]!, c[5 * i + 2]!, c[5 * i + 3]!, c[5 * i + 4]!));
    expect(differing(gpu, cpu)).toBe(0);
    expect(new Set(cpu).size).toBeGreaterThan(count - 5);
  });

  it('keeps exactly the elements the CPU keeps, also at the threshold itself', async () => {
    const count = 2048;
    // counters whose draw is the threshold of p = 0.3 (kept) and one below it (dropped), found by search
    const threshold = keepThreshold(0.3);
    const found = new Map<number, number>();
    for (let seed = 0; found.size < 2 && seed < 2 ** 28; seed++) {
      const bits = random24(seed, 0, 0, 0, 0);
      if ((bits === threshold || bits === threshold - 1) && !found.has(bits)) found.set(bits, seed);
    }
    expect(found.size).toBe(2);
    for (const p of [0.3, 1 / 3, 0.5, 0]) {
      const c = counters(count, 2);
      // stream 0 and element 0, as written into the expression below; seed, t and b vary
      for (let i = 0; i < count; i++) (c[5 * i + 1] = 0), (c[5 * i + 4] = 0);
      c.set([found.get(threshold)!, 0, 0, 0, 0, found.get(threshold - 1)!, 0, 0, 0, 0], 5);
      const attrs = { p, stream: 0, perStep: true };
      const expression = DROPOUT_MASK.wgsl(attrs, { seed: 'seed', t: 't', b: 'b', j: '0u' }, f32Literal);
      const gpu = new Float32Array(await runShader(shader(expression, 'f32'), c, count));
      const cpu = Float32Array.from({ length: count }, (_, i) => DROPOUT_MASK.cpu(attrs, 1, c[5 * i]!, c[5 * i + 2]!, c[5 * i + 3]!)[0]!);
      expect(differing(gpu, cpu), `p = ${p}`).toBe(0);
      if (p === 0.3) expect([cpu[1], cpu[2]]).toEqual([Math.fround(1 / 0.7), 0]);
      if (p === 0) expect(cpu.every((v) => v === 1)).toBe(true);
    }
  });
});

describe('training with dropout on the GPU equals the float64 reference with the same seed', () => {
  it('loss and gradients of every parameter, input and initial state (relative 1e-3)', async () => {
    const drop = cell();
    const c = gradCase(drop, 'mse', 'y', DIMS, 11);
    const plans = buildTrainingPlans(drop, { kind: 'mse', output: 'y' });
    // the masks sit in every kind of kernel: hoisted, step, after (forward) and post (backward)
    const phases = new Set([...plans.forward.kernels, ...plans.backward.kernels].filter((k) => k.variants[0]!.wgsl.includes('seqc_random24(launch.seed')).map((k) => k.phase));
    expect([...phases].sort()).toEqual(['after', 'hoisted', 'post', 'step']);
    const model = await createModel(buildLaunchPlan(drop), { sizes: c.sizes, batch: c.B });
    const trainer = await Trainer.create(model, plans, { seed: 1234 });
    try {
      model.setParams(c.params);
      const batch = {
        inputs: Float32Array.from(c.inputs['x']!),
        target: Float32Array.from(c.inputs['__target']!),
        mask: Float32Array.from(c.inputs['__weight']!, (w) => (w > 0 ? 1 : 0)),
        initialState: c.initialState,
      };
      const check = async (seed: number, params = c.params) => {
        const ref = referenceGradients(c.program, { params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState, seed });
        const g = await trainer.gradients(batch);
        expect(relativeError(g.loss, ref.loss)).toBeLessThan(1e-5);
        const near = (what: string, gpu: Float32Array, f64: Float64Array) => {
          expect(gpu.length, what).toBe(f64.length);
          for (let i = 0; i < f64.length; i++) expect(relativeError(gpu[i]!, f64[i]!, 1e-3), `${what}[${i}]: gpu ${gpu[i]} vs f64 ${f64[i]}`).toBeLessThan(1e-3);
        };
        for (const [name, grad] of Object.entries(ref.params)) near(`d${name}`, g.params[name]!, grad);
        near('dx', g.inputs['x']!, ref.inputs['x']!);
        for (const [name, grad] of Object.entries(ref.initialStates)) near(`d${name}0`, g.initialStates[name]!, grad);
        return g.loss;
      };
      expect(trainer.nextStepSeed).toBe(stepSeed(1234, 0));
      const first = await check(trainer.nextStepSeed);
      // a step advances the seed: the next gradients draw fresh masks (the weights moved too,
      // so they are checked at the new weights)
      await trainer.step(batch);
      expect(trainer.nextStepSeed).toBe(stepSeed(1234, 1));
      expect(trainer.nextStepSeed).not.toBe(stepSeed(1234, 0));
      const moved = await model.getParams();
      const second = await check(trainer.nextStepSeed, Object.fromEntries(Object.entries(moved).map(([k, v]) => [k, Float64Array.from(v)])));
      expect(second).not.toBe(first);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('a training run is reproducible from the seed; another seed trains differently; inference ignores dropout', async () => {
    const drop = cell();
    const plans = buildTrainingPlans(drop, { kind: 'mse', output: 'y' });
    const random = new Random(6);
    const inputs = randomInputs(drop, DIMS.sizes, DIMS.T, DIMS.B, random);
    const target = Float32Array.from({ length: DIMS.T * DIMS.B * 5 }, () => random.uniform() - 0.5);
    const run = async (seed: number) => {
      const model = await createModel(buildLaunchPlan(drop), { sizes: DIMS.sizes, batch: DIMS.B, seed: 3, training: { seed, optimizer: { kind: 'adam', learningRate: 0.01 } } }, plans);
      try {
        const losses: number[] = [];
        for (let i = 0; i < 3; i++) losses.push(await model.trainStep({ x: inputs['x']!, target }));
        const params = await model.getParams();
        const { outputs } = await model.forward(inputs);
        const ref = referenceForward(cell(false), { params, inputs, sizes: DIMS.sizes, T: DIMS.T, B: DIMS.B, seed: 77 });
        for (const name of ['h', 'y']) {
          for (let i = 0; i < ref.outputs[name]!.length; i++) expect(Math.abs(outputs[name]![i]! - ref.outputs[name]![i]!)).toBeLessThan(1e-5 + 1e-5 * Math.abs(ref.outputs[name]![i]!));
        }
        return losses;
      } finally {
        model.dispose();
      }
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    // each step draws fresh masks, so the losses of equal steps would differ even at equal weights
    const b = await run(43);
    expect(b[0]).not.toBe(a[0]);
  });
});
