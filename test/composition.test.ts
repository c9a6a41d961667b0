/**
 * Composed cells on the WebGPU device found, against the float64 reference and against the
 * ONNX `LSTM` definition (test/onnx-spec.ts, which shares nothing with the compiler):
 * a 2-layer stack (`stack(2, LSTM)`, two ONNX LSTM nodes in a row), per-sequence lengths
 * (ONNX `sequence_lens`), and a bidirectional LSTM with lengths (direction = bidirectional).
 * Fresh random weights and inputs, within 1e-5.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { VALID, withLengths } from '../compiler/lengths.js';
import { lowerSource } from '../compiler/frontend.js';
import { Bidirectional, createModel, fromOnnx, releaseDevice, reverseWithin } from '../runtime/index.js';
import { referenceForward } from '../runtime/reference.js';
import { validMask } from '../runtime/lengths.js';
import { loadExample } from './gpu-helpers.js';
import { type Dims, gridWeights, mulberry32, onnxLstm, onnxLstmFull } from './onnx-spec.js';

afterAll(releaseDevice);

const TOLERANCE = 1e-5;

function maxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst;
}

/** Inputs exact in f32, so the device and the float64 definitions read the same numbers. */
const inputs = (rand: () => number, n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

/** ONNX weights of one LSTM direction: W [4H, I], R [4H, H], B [8H], exact in f32. */
function onnxWeights(rand: () => number, I: number, H: number) {
  return { W: gridWeights(rand, 4 * H * I), R: gridWeights(rand, 4 * H * H), B: gridWeights(rand, 8 * H) };
}

const prefixed = (prefix: string, params: Record<string, ArrayLike<number>>) => Object.fromEntries(Object.entries(params).map(([k, v]) => [`${prefix}${k}`, v]));

const SHAPES: readonly (Dims & { label: string })[] = [
  { label: 'T=6 B=3 I=3 H=5', T: 6, batch: 3, I: 3, H: 5 },
  { label: 'T=9 B=4 I=8 H=32', T: 9, batch: 4, I: 8, H: 32 },
];

describe('stack(2, LSTM) equals two ONNX LSTM nodes in a row', () => {
  const stacked = loadExample('stacked-lstm');

  it('inlines both layers into one step, their params and states named per layer', () => {
    expect(stacked.params.map((p) => p.name)).toEqual(['enc.0.W', 'enc.0.U', 'enc.0.b', 'enc.1.W', 'enc.1.U', 'enc.1.b']);
    expect(stacked.states.map((s) => s.name)).toEqual(['enc.0.h', 'enc.0.c', 'enc.1.h', 'enc.1.c']);
    expect(stacked.params.find((p) => p.name === 'enc.1.W')!.shape.map(String)).toEqual(['4*H', 'H']);
  });

  it.each(SHAPES)('$label: GPU and float64 reference', async (dims) => {
    const { T, batch: B, I, H } = dims;
    const rand = mulberry32(300 + H);
    const layer0 = onnxWeights(rand, I, H);
    const layer1 = onnxWeights(rand, H, H);
    const X = inputs(rand, T * B * I);
    const first = onnxLstm({ X, ...layer0, dims });
    const second = onnxLstm({ X: first.Y, ...layer1, dims: { ...dims, I: H } });
    const params = { ...prefixed('enc.0.', fromOnnx('lstm', layer0, { I, H })), ...prefixed('enc.1.', fromOnnx('lstm', layer1, { I: H, H })) };
    const sizes = { I, H };
    const reference = referenceForward(stacked, { params, inputs: { x: X }, sizes, T, B });
    expect(maxDiff(reference.outputs.y!, second.Y)).toBeLessThan(1e-9);
    const model = await createModel(buildLaunchPlan(stacked), { sizes, batch: B });
    try {
      model.setParams(params);
      const gpu = await model.forward(X);
      expect(maxDiff(gpu.outputs.y!, second.Y)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states['enc.0.h']!, first.Y_h)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states['enc.0.c']!, first.Y_c)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states['enc.1.h']!, second.Y_h)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states['enc.1.c']!, second.Y_c)).toBeLessThan(TOLERANCE);
    } finally {
      model.dispose();
    }
  });
});

/** Lengths with padding in all but the first example, one of them a single step. */
const lengthsFor = (T: number, B: number) => Int32Array.from({ length: B }, (_, b) => (b === 0 ? T : b === 1 ? 1 : Math.max(1, T - 2 * b)));

describe('per-sequence lengths equal ONNX sequence_lens', () => {
  const lstm = withLengths(loadExample('lstm'));

  it('adds the mask input, with no gradient, and holds every state', () => {
    expect(lstm.inputs.map((i) => [i.name, i.mask ?? false])).toEqual([['x', false], [VALID, true]]);
    expect(() => withLengths(lowerSource('cell S(x: [I]) -> h {\n  param W: [H, I + H] = xavier\n  state h: [H] = 0\n  h[t] = tanh(W @ [x[t], h[t-2]])\n}', 's.seq'))).toThrow(/read 2 steps back/);
  });

  it.each(SHAPES)('$label, forward: GPU and float64 reference', async (dims) => {
    const { T, batch: B, I, H } = dims;
    const rand = mulberry32(400 + H);
    const weights = onnxWeights(rand, I, H);
    const X = inputs(rand, T * B * I);
    const lengths = lengthsFor(T, B);
    const onnx = onnxLstmFull({ X, ...weights, sequenceLens: lengths, direction: 'forward', dims });
    const params = fromOnnx('lstm', weights, { I, H });
    const sizes = { I, H };
    const reference = referenceForward(lstm, { params, inputs: { x: X, [VALID]: validMask(lengths, T, B) }, sizes, T, B });
    expect(maxDiff(reference.finalStates.h!, onnx.Y_h)).toBeLessThan(1e-9);
    expect(maxDiff(reference.finalStates.c!, onnx.Y_c)).toBeLessThan(1e-9);
    const model = await createModel(buildLaunchPlan(lstm), { sizes, batch: B });
    try {
      model.setParams(params);
      const gpu = await model.forward(X, undefined, { lengths });
      expect(maxDiff(gpu.outputs.h!, onnx.Y)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states.h!, onnx.Y_h)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states.c!, onnx.Y_c)).toBeLessThan(TOLERANCE);
      // padded steps are zero, as ONNX's Y
      expect(gpu.outputs.h!.subarray(((T - 1) * B + 1) * H, ((T - 1) * B + 2) * H).every((v) => v === 0)).toBe(true);
      await expect(model.forward(X, undefined, { lengths: Int32Array.of(T + 1, 1, 1, 1).subarray(0, B) })).rejects.toThrow(/lengths\[0\] = \d+ is not a whole number of steps/);
    } finally {
      model.dispose();
    }
  });

  it('a cell compiled without lengths refuses them', async () => {
    const model = await createModel(buildLaunchPlan(loadExample('lstm')), { sizes: { I: 2, H: 3 }, batch: 1 });
    try {
      await expect(model.forward(new Float32Array(4), undefined, { lengths: [2] })).rejects.toThrow(/compiled without per-sequence lengths/);
    } finally {
      model.dispose();
    }
  });
});

describe('bidirectional LSTM with lengths equals ONNX direction = bidirectional', () => {
  it('reverseWithin reverses each sequence within its length and is its own inverse', () => {
    const data = Float32Array.from({ length: 4 * 2 }, (_, i) => i);
    const lengths = [4, 2];
    // [t, b]: b = 0 has 4 steps, b = 1 two, then padding that stays put
    expect(Array.from(reverseWithin(data, lengths, 4, 2))).toEqual([6, 3, 4, 1, 2, 5, 0, 7]);
    expect(Array.from(reverseWithin(reverseWithin(data, lengths, 4, 2), lengths, 4, 2))).toEqual(Array.from(data));
  });

  it.each(SHAPES)('$label: GPU', async (dims) => {
    const { T, batch: B, I, H } = dims;
    const rand = mulberry32(500 + H);
    const forward = onnxWeights(rand, I, H);
    const reverse = onnxWeights(rand, I, H);
    const X = inputs(rand, T * B * I);
    const lengths = lengthsFor(T, B);
    const join = (a: Float32Array, b: Float32Array) => Float32Array.from([...a, ...b]);
    const onnx = onnxLstmFull({ X, W: join(forward.W, reverse.W), R: join(forward.R, reverse.R), B: join(forward.B, reverse.B), sequenceLens: lengths, direction: 'bidirectional', dims });
    const layer = await Bidirectional.create(buildLaunchPlan(withLengths(loadExample('lstm'))), { sizes: { I, H }, batch: B });
    try {
      layer.forwardModel.setParams(fromOnnx('lstm', forward, { I, H }));
      layer.reverseModel.setParams(fromOnnx('lstm', reverse, { I, H }));
      const gpu = await layer.forward(X, { lengths });
      // ONNX's Y is [T, 2, B, H]; the layer's [T, B, 2H]
      const expected = new Float64Array(T * B * 2 * H);
      for (let t = 0; t < T; t++) for (let d = 0; d < 2; d++) for (let b = 0; b < B; b++) {
        expected.set(onnx.Y.subarray(((t * 2 + d) * B + b) * H, ((t * 2 + d) * B + b + 1) * H), (t * B + b) * 2 * H + d * H);
      }
      expect(maxDiff(gpu.outputs.h!, expected)).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states.forward.h!, onnx.Y_h.subarray(0, B * H))).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states.reverse.h!, onnx.Y_h.subarray(B * H))).toBeLessThan(TOLERANCE);
      expect(maxDiff(gpu.states.reverse.c!, onnx.Y_c.subarray(B * H))).toBeLessThan(TOLERANCE);
    } finally {
      layer.dispose();
    }
  });
});

describe('cell calls', () => {
  const LSTM = 'cell L(x: [I]) -> h {\n  param W: [H, I + H] = xavier\n  state h: [H] = 0\n  h[t] = tanh(W @ [x[t], h[t-1]])\n}\n';
  it('binds the callee\'s input size to its argument and shares the others by name', () => {
    const m = lowerSource(`${LSTM}cell M(x: [E]) -> y {\n  size H = 4\n  let a = L(x[t])\n  y[t] = L(a)\n}\n`, 'm.seq');
    expect(m.sizes.map((s) => `${s.name}${s.default === undefined ? '' : `=${s.default}`}`)).toEqual(['E', 'H=4']);
    expect(m.params.map((p) => `${p.name}: [${p.shape.join(', ')}]`)).toEqual(['a.W: [H, E + H]', 'y.W: [H, 2*H]']);
  });
});
