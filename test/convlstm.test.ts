/**
 * 2-D convolution and the ConvLSTM of examples/convlstm.seq: the float64 reference of conv2d
 * equals the textbook convolution written here with 4-d indices, for several kernel sizes and
 * grids; the reference of the cell equals Shi et al.'s equations stepped here gate by gate;
 * the float64 backward equals finite differences; the GPU equals the reference within 1e-5,
 * stepping and persistent; the GPU gradients of every parameter, input and initial state
 * equal float64 finite differences within 1e-3; a kernel that does not fit its map is a
 * located error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lowerCells, lowerSource } from '../compiler/frontend.js';
import { finiteDifference, gradCase, lossOf, probes, relativeError } from '../compiler/gradcheck.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { defaultLoss, TARGET, WEIGHT } from '../compiler/loss.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { SeqError } from '../dsl/diagnostics.js';
import { Random } from '../runtime/init.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';
import { expectFiniteDifferences } from './grad-helpers.js';
import { gpuVersusReference, loadExample, persistentOnly } from './gpu-helpers.js';

afterAll(releaseDevice);

/**
 * The textbook convolution: out[co][y][x] = sum over ci, dy, dx of w[co][ci][dy][dx] *
 * v[ci][y + dy - p][x + dx - p], zero outside the grid; `w` is [cout][cin][k][k] and `v`
 * [cin][height][width] flattened, starting at `at`.
 */
function convolve(w: ArrayLike<number>, v: ArrayLike<number>, at: number, cin: number, cout: number, height: number, width: number, k: number): number[] {
  const p = (k - 1) / 2;
  const out: number[] = [];
  for (let co = 0; co < cout; co++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let ci = 0; ci < cin; ci++) {
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              const [yy, xx] = [y + dy - p, x + dx - p];
              if (yy >= 0 && yy < height && xx >= 0 && xx < width) sum += w[((co * cin + ci) * k + dy) * k + dx]! * v[at + (ci * height + yy) * width + xx]!;
            }
          }
        }
        out.push(sum);
      }
    }
  }
  return out;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

describe('conv2d', () => {
  it.each([
    [1, { C: 2, O: 3, Y: 4, X: 5 }],
    [3, { C: 2, O: 3, Y: 4, X: 5 }],
    [3, { C: 1, O: 2, Y: 1, X: 6 }],
    [5, { C: 3, O: 2, Y: 3, X: 4 }],
  ] as const)('the float64 reference equals the textbook convolution, K=%d, sizes %o', (k, sizes) => {
    const source = `cell Conv(x: [C*Y*X]) -> y {\n  param W: [O, C*${k}*${k}] = xavier\n  y[t] = conv2d(W, x[t], Y, X)\n}\n`;
    const cell = lowerSource(source, 'conv.seq');
    const [T, B] = [2, 3];
    const random = new Random(k);
    const params = randomParams(cell, sizes, random);
    const inputs = randomInputs(cell, sizes, T, B, random);
    const y = referenceForward(cell, { params, inputs, sizes, T, B }).outputs['y']!;
    const n = sizes.C * sizes.Y * sizes.X;
    for (let r = 0; r < T * B; r++) {
      const direct = convolve(params['W']!, inputs['x']!, r * n, sizes.C, sizes.O, sizes.Y, sizes.X, k);
      direct.forEach((v, i) => expect(Math.abs(y[r * direct.length + i]! - v), `row ${r} element ${i}`).toBeLessThan(1e-12));
    }
  });

  it('a kernel that does not fit the map is an error at the call, with the shapes and a hint', () => {
    const source = `cell Bad(x: [C*Y*X]) -> h {
  param W: [4*M, M*3*3] = xavier
  state h: [M*Y*X] = 0
  let i, f, g, o = split(conv2d(W, x[t], Y, X), 4)
  h[t] = sigmoid(o) * tanh(g)
}
`;
    let report = '';
    try {
      lowerCells(source, 'bad.seq');
    } catch (error) {
      expect(error).toBeInstanceOf(SeqError);
      report = (error as SeqError).format(source);
    }
    const lines = report.split('\n');
    expect(lines[0]).toBe('bad.seq:4:26: error: conv2d(W, x[t], Y, X): expected a kernel of C*K*K columns for the C input channels, K odd (e.g. [4*M, C*3*3]), got [4*M, 9*M]');
    expect(lines[2]).toBe('4 |   let i, f, g, o = split(conv2d(W, x[t], Y, X), 4)');
    expect(lines[3]).toBe(`  | ${' '.repeat(25)}${'^'.repeat('conv2d(W, x[t], Y, X)'.length)}`);
    expect(report).toContain('hint: a map of c channels over the Y x X grid is a vector [c*Y*X]');
  });

  it('a map whose size is not whole channels of the grid is an error at the call', () => {
    // a frame of C rows of Y pixels, not C maps of Y x X
    const source = 'cell Bad(x: [C*Y]) -> h {\n  param W: [M, C*3*3] = xavier\n  state h: [M*Y*X] = 0\n  h[t] = tanh(conv2d(W, x[t], Y, X))\n}\n';
    expect(() => lowerCells(source, 'bad.seq')).toThrow('conv2d(W, x[t], Y, X): expected an input map of whole channels of Y x X pixels, [channels*Y*X], got [C*Y]');
  });
});

const CELL = loadExample('convlstm');
const SMALL = { T: 4, B: 2, sizes: { C: 1, M: 2, Y: 4, X: 3 } };
const WIDER = { T: 3, B: 3, sizes: { C: 2, M: 3, Y: 5, X: 5 } };

/**
 * Shi et al. (2015), eq. 3, one gate at a time: i = σ(W_xi * X + W_hi * H + W_ci ∘ C + b_i),
 * f likewise, C' = f ∘ C + i ∘ tanh(W_xc * X + W_hc * H + b_c), o = σ(W_xo * X + W_ho * H +
 * W_co ∘ C' + b_o), H' = o ∘ tanh(C'); the readout y = W_y * H' + b_y with a 1x1 kernel.
 * Gate q's kernels are rows [q*M, (q+1)*M) of Wx and Wh, its bias b[q*M + channel] at every pixel.
 */
function textbookConvLSTM(p: Record<string, Float32Array>, x: Float32Array, h0: Float32Array, c0: Float32Array, { T, B, sizes: { C, M, Y, X } }: typeof SMALL) {
  const P = Y * X;
  const n = M * P;
  const ys: number[] = [];
  let [h, c] = [Array.from(h0), Array.from(c0)];
  const gate = (q: number, xAt: number, hb: number[], b: number): number[] => {
    const wx = p['Wx']!.subarray(q * M * C * 9, (q + 1) * M * C * 9);
    const wh = p['Wh']!.subarray(q * M * M * 9, (q + 1) * M * M * 9);
    const fromX = convolve(wx, x, xAt, C, M, Y, X, 3);
    const fromH = convolve(wh, hb, b * n, M, M, Y, X, 3);
    return fromX.map((v, i) => v + fromH[i]! + p['b']![q * M + Math.floor(i / P)]!);
  };
  for (let t = 0; t < T; t++) {
    const [nextH, nextC]: number[][] = [[], []];
    for (let b = 0; b < B; b++) {
      const xAt = (t * B + b) * C * P;
      const [zi, zf, zg, zo] = [0, 1, 2, 3].map((q) => gate(q, xAt, h, b)) as [number[], number[], number[], number[]];
      const cb = c.slice(b * n, (b + 1) * n);
      const i = zi.map((z, j) => sigmoid(z + p['Pi']![j]! * cb[j]!));
      const f = zf.map((z, j) => sigmoid(z + p['Pf']![j]! * cb[j]!));
      const cNew = cb.map((cj, j) => f[j]! * cj + i[j]! * Math.tanh(zg[j]!));
      const o = zo.map((z, j) => sigmoid(z + p['Po']![j]! * cNew[j]!));
      const hNew = cNew.map((cj, j) => o[j]! * Math.tanh(cj));
      ys.push(...convolve(p['Wy']!, hNew, 0, M, C, Y, X, 1).map((v, j) => v + p['by']![Math.floor(j / P)]!));
      nextH.push(...hNew);
      nextC.push(...cNew);
    }
    [h, c] = [nextH!, nextC!];
  }
  return { y: ys, h, c };
}

describe('ConvLSTM (examples/convlstm.seq)', () => {
  it.each([['small', SMALL], ['wider', WIDER]] as const)('the float64 reference equals the textbook step loop, %s sizes', (_label, dims) => {
    const { T, B, sizes } = dims;
    const random = new Random(7);
    const params = randomParams(CELL, sizes, random);
    const inputs = randomInputs(CELL, sizes, T, B, random);
    const n = sizes.M * sizes.Y * sizes.X;
    const initialState = { h: Float32Array.from({ length: B * n }, () => random.uniform() - 0.5), c: Float32Array.from({ length: B * n }, () => random.uniform() - 0.5) };
    const ref = referenceForward(CELL, { params, inputs, sizes, T, B, initialState });
    const direct = textbookConvLSTM(params, inputs['x']!, initialState.h, initialState.c, dims);
    const close = (what: string, got: Float64Array, want: readonly number[]) => {
      expect(got.length, what).toBe(want.length);
      want.forEach((v, i) => expect(Math.abs(got[i]! - v), `${what}[${i}]`).toBeLessThan(1e-12));
    };
    close('y', ref.outputs['y']!, direct.y);
    close('final h', ref.finalStates['h']!, direct.h);
    close('final c', ref.finalStates['c']!, direct.c);
  });

  it('the float64 backward (flip_kernel, conv2d_filter, reshape) equals finite differences', () => {
    const loss = defaultLoss(CELL);
    const c = gradCase(CELL, loss.kind, loss.output, SMALL, 19);
    const ref = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState, seed: c.seed });
    for (const p of CELL.params) {
      for (const i of probes(c.params[p.name]!.length, 12)) {
        expect(relativeError(ref.params[p.name]![i]!, finiteDifference(c, 'params', p.name, i)), `${p.name}[${i}]`).toBeLessThan(1e-5);
      }
    }
    for (const i of probes(c.inputs['x']!.length, 12)) expect(relativeError(ref.inputs['x']![i]!, finiteDifference(c, 'inputs', 'x', i)), `x[${i}]`).toBeLessThan(1e-5);
  });

  /** A plan without its persistent kernel: the runtime steps. */
  const stepped = (plan: LaunchPlan): LaunchPlan => ({ ...plan, kernels: plan.kernels.filter((k) => !k.persistent) });
  const SCHEDULES = [['as the runtime picks', (plan: LaunchPlan) => plan], ['stepped', stepped], ['persistent', (plan: LaunchPlan) => persistentOnly(plan)]] as const;

  it.each(SCHEDULES.flatMap(([label, shape]) => [['small', label, SMALL, shape], ['wider', label, WIDER, shape]] as const))('the GPU equals the float64 reference within 1e-5, %s sizes, %s', async (_size, _label, dims, shape) => {
    const results = await gpuVersusReference(CELL, dims, 23, shape(buildLaunchPlan(CELL)));
    for (const [what, r] of Object.entries(results)) expect(r.ok, `${what}: max |gpu - f64| ${r.maxAbs}`).toBe(true);
  });

  it.each(SCHEDULES)('GPU gradients of every parameter, input and initial state equal float64 finite differences, %s', async (_label, shape) => {
    const loss = defaultLoss(CELL);
    const c = gradCase(CELL, loss.kind, loss.output, WIDER, 29);
    const model = await createModel(shape(buildLaunchPlan(CELL)), { sizes: c.sizes, batch: c.B });
    const plans = buildTrainingPlans(CELL, loss);
    const trainer = await Trainer.create(model, { ...plans, forward: shape(plans.forward), backward: shape(plans.backward) });
    try {
      model.setParams(c.params);
      const g = await trainer.gradients({
        inputs: { x: Float32Array.from(c.inputs['x']!) },
        target: Float32Array.from(c.inputs[TARGET]!),
        mask: Float32Array.from(c.inputs[WEIGHT]!, (w) => (w > 0 ? 1 : 0)),
        initialState: c.initialState,
      });
      const f64 = () => lossOf(c);
      expect(relativeError(g.loss, f64())).toBeLessThan(1e-5);
      expectFiniteDifferences(c.params, g.params, f64, 'param', 12);
      expectFiniteDifferences({ x: c.inputs['x']! }, g.inputs, f64, 'input', 12);
      expectFiniteDifferences(c.initialState, g.initialStates, f64, 'initial', 12);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});
