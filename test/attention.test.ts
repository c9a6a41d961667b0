/**
 * Attention written in the language (examples/attention.seq, multihead.seq, bahdanau.seq):
 * the float64 reference of each cell equals the textbook formulas computed here directly
 * (softmax over the visible steps only, no -10^4 trick); the GPU equals the reference within
 * 1e-5 with causal, padding and no masks; and the GPU gradients equal float64 finite
 * differences within 1e-3 relative under each mask.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gradCase, gradcheck } from '../compiler/gradcheck.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { Random } from '../runtime/init.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { referenceForward } from '../runtime/reference.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

type Masks = 'causal' | 'padding' | 'none';

/** visible[t, b, s]: steps up to t (causal), the first lengths[b] steps (padding), or all. */
function visibility(kind: Masks, T: number, B: number, S: number): Float32Array {
  const out = new Float32Array(T * B * S);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const visible = kind === 'causal' ? t + 1 : kind === 'padding' ? S - (b % S) : S;
      out.fill(1, (t * B + b) * S, (t * B + b) * S + Math.min(S, visible));
    }
  }
  return out;
}

/** Row-major matrix [rows, cols] times vector. */
function matvec(m: ArrayLike<number>, rows: number, cols: number, v: ArrayLike<number>, at = 0): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += m[r * cols + c]! * v[at + c]!;
    return acc;
  });
}

/** softmax over the visible entries; the others get exactly 0 */
function maskedSoftmax(scores: readonly number[], visible: (s: number) => boolean): number[] {
  const max = Math.max(...scores.filter((_, s) => visible(s)));
  const e = scores.map((x, s) => (visible(s) ? Math.exp(x - max) : 0));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / total);
}

/** A memory of S rows of `width` elements, starting at `base` in a flat buffer; a head reads `count` columns from `first`. */
interface Memory {
  readonly data: ArrayLike<number>;
  readonly base: number;
  readonly width: number;
}
const at = (m: Memory, s: number, col: number): number => m.data[m.base + s * m.width + col]!;

/** One head: softmax(keys[:, first..] q * scale) over the visible steps, and its weighted sum of the values' columns. */
function attend(q: readonly number[], keys: Memory, values: Memory, S: number, first: number, count: number, scale: number, visible: (s: number) => boolean): { alpha: number[]; context: number[] } {
  const scores = Array.from({ length: S }, (_, s) => q.reduce((acc, qk, k) => acc + qk * at(keys, s, first + k), 0) * scale);
  const alpha = maskedSoftmax(scores, visible);
  const context = Array.from({ length: count }, (_, d) => alpha.reduce((acc, a, s) => acc + a * at(values, s, first + d), 0));
  return { alpha, context };
}

const DOT = { T: 6, B: 3, sizes: { I: 8, S: 6, K: 4, D: 5, O: 7 } };
const HEADS = { T: 6, B: 3, sizes: { I: 8, S: 6, K: 4, O: 7 } };
const BAHDANAU = { T: 5, B: 3, sizes: { V: 7, E: 4, H: 6, S: 5, D: 6, K: 4 } };

interface Case {
  readonly name: string;
  readonly dims: { T: number; B: number; sizes: Record<string, number> };
  readonly mask: string;
  /** the textbook formulas: every output at every step, [T, B, n] */
  readonly direct: (params: Record<string, Float32Array>, inputs: Record<string, Float32Array>, dims: Case['dims']) => Record<string, number[]>;
}

const CASES: readonly Case[] = [
  {
    name: 'attention', dims: DOT, mask: 'visible',
    direct: (p, x, { T, B, sizes: { I, S, K, D, O } }) => {
      const y: number[] = [];
      const alphas: number[] = [];
      for (let r = 0; r < T * B; r++) {
        const q = matvec(p['Wq']!, K!, I!, x['x']!, r * I!);
        const keys = { data: x['keys']!, base: r * S! * K!, width: K! };
        const values = { data: x['values']!, base: r * S! * D!, width: D! };
        const { alpha, context } = attend(q, keys, values, S!, 0, D!, 1 / Math.sqrt(K!), (s) => x['visible']![r * S! + s] === 1);
        y.push(...matvec(p['Wo']!, O!, D!, context).map((v, o) => v + p['bo']![o]!));
        alphas.push(...alpha);
      }
      return { y, alpha: alphas };
    },
  },
  {
    name: 'multihead', dims: HEADS, mask: 'visible',
    direct: (p, x, { T, B, sizes: { I, S, K, O } }) => {
      const y: number[] = [];
      const width = 2 * K!;
      for (let r = 0; r < T * B; r++) {
        const q = matvec(p['Wq']!, width, I!, x['x']!, r * I!);
        const visible = (s: number) => x['visible']![r * S! + s] === 1;
        const keys = { data: x['keys']!, base: r * S! * width, width };
        const values = { data: x['values']!, base: r * S! * width, width };
        const heads = [0, 1].flatMap((h) => attend(q.slice(h * K!, (h + 1) * K!), keys, values, S!, h * K!, K!, 1 / Math.sqrt(K!), visible).context);
        y.push(...matvec(p['Wo']!, O!, width, heads).map((v, o) => v + p['bo']![o]!));
      }
      return { y };
    },
  },
  {
    name: 'bahdanau', dims: BAHDANAU, mask: 'valid',
    direct: (p, x, { T, B, sizes: { V, E, H, S, D, K } }) => {
      const logits: number[] = [];
      const alphas: number[] = [];
      const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
      let s = Array.from({ length: B }, () => new Array<number>(H!).fill(0));
      for (let t = 0; t < T; t++) {
        const next: number[][] = [];
        for (let b = 0; b < B; b++) {
          const r = t * B + b;
          const query = matvec(p['Ws']!, K!, H!, s[b]!);
          const scores = Array.from({ length: S! }, (_, j) => {
            let e = 0;
            for (let k = 0; k < K!; k++) e += p['va']![k]! * Math.tanh(x['keys']![(r * S! + j) * K! + k]! + query[k]!);
            return e;
          });
          const alpha = maskedSoftmax(scores, (j) => x['valid']![r * S! + j] === 1);
          const context = Array.from({ length: D! }, (_, d) => alpha.reduce((acc, a, j) => acc + a * x['enc']![(r * S! + j) * D! + d]!, 0));
          const id = x['y']![r]!;
          const embedded = Array.from({ length: E! }, (_, e) => p['Emb']![e * V! + id]!);
          const zrn = matvec(p['W']!, 3 * H!, E! + D!, [...embedded, ...context]).map((v, i) => v + p['b']![i]!);
          const u = matvec(p['U']!, 3 * H!, H!, s[b]!);
          const h = Array.from({ length: H! }, (_, i) => {
            const update = sigmoid(zrn[i]! + u[i]!);
            const reset = sigmoid(zrn[H! + i]! + u[H! + i]!);
            return (1 - update) * Math.tanh(zrn[2 * H! + i]! + reset * u[2 * H! + i]!) + update * s[b]![i]!;
          });
          next.push(h);
          logits.push(...matvec(p['Wy']!, V!, H! + D!, [...h, ...context]).map((v, i) => v + p['by']![i]!));
          alphas.push(...alpha);
        }
        s = next;
      }
      return { logits, alpha: alphas };
    },
  },
];

function masked(cell: CellProgram, c: Case, kind: Masks, random: Random) {
  const sizes = c.dims.sizes;
  const inputs = randomInputs(cell, sizes, c.dims.T, c.dims.B, random);
  inputs[c.mask] = visibility(kind, c.dims.T, c.dims.B, sizes['S']!);
  return inputs;
}

describe('attention cells', () => {
  const MASKS: Masks[] = ['causal', 'padding', 'none'];

  it.each(CASES.flatMap((c) => MASKS.map((m) => [c.name, m, c] as const)))('%s: the float64 reference equals the formulas, %s mask', (_name, kind, c) => {
    const cell = loadExample(c.name);
    const random = new Random(3);
    const params = randomParams(cell, c.dims.sizes, random);
    const inputs = masked(cell, c, kind, random);
    const initialState = Object.fromEntries(cell.states.map((s) => [s.name, new Float32Array(c.dims.B * s.shape[0]!.evaluate(c.dims.sizes))]));
    const ref = referenceForward(cell, { params, inputs, sizes: c.dims.sizes, T: c.dims.T, B: c.dims.B, initialState });
    for (const [name, expected] of Object.entries(c.direct(params, inputs, c.dims))) {
      const got = ref.outputs[name]!;
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - expected[i]!), `${name}[${i}]`).toBeLessThan(1e-12);
    }
  });

  it.each(CASES.flatMap((c) => MASKS.map((m) => [c.name, m, c] as const)))('%s: the GPU equals the float64 reference within 1e-5, %s mask', async (_name, kind, c) => {
    const cell = loadExample(c.name);
    const mask = visibility(kind, c.dims.T, c.dims.B, c.dims.sizes['S']!);
    const results = await gpuVersusReference(cell, c.dims, 11, buildLaunchPlan(cell), { [c.mask]: mask });
    for (const [what, r] of Object.entries(results)) expect(r.ok, `${what}: max |gpu - f64| ${r.maxAbs}`).toBe(true);
  });

  it.each(CASES.flatMap((c) => (['causal', 'padding'] as Masks[]).map((m) => [c.name, m, c] as const)))('%s: GPU gradients equal float64 finite differences, %s mask', async (_name, kind, c) => {
    const cell = loadExample(c.name);
    const output = cell.outputs[0]!;
    const gc = gradCase(cell, 'softmax-ce', output, c.dims, 13);
    gc.inputs[c.mask] = Float64Array.from(visibility(kind, c.dims.T, c.dims.B, c.dims.sizes['S']!));
    const checks = await gradcheck(cell, gc);
    expect(checks.map((k) => k.tensor)).toEqual(expect.arrayContaining(['input keys']));
    for (const check of checks) expect(check.worst, check.tensor).toBeLessThanOrEqual(1e-3);
  });

  it('the alignment: each row of alpha sums to 1 and is 0 on padded encoder steps', async () => {
    const c = CASES.find((k) => k.name === 'bahdanau')!;
    const cell = loadExample(c.name);
    const { T, B, sizes } = c.dims;
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B });
    try {
      const random = new Random(5);
      model.setParams(randomParams(cell, sizes, random));
      const inputs = masked(cell, c, 'padding', random);
      const { outputs } = await model.forward(inputs);
      const alpha = outputs['alpha']!;
      const S = sizes['S']!;
      for (let r = 0; r < T * B; r++) {
        const row = alpha.subarray(r * S, (r + 1) * S);
        expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        row.forEach((v, s) => {
          if (inputs['valid']![r * S + s] === 0) expect(v).toBe(0);
        });
      }
    } finally {
      model.dispose();
    }
  });

  it('a mask input takes only 0 and 1', async () => {
    const cell = loadExample('attention');
    const { T, B, sizes } = DOT;
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B });
    try {
      const inputs = randomInputs(cell, sizes, T, B, new Random(1));
      inputs['visible']![4] = 0.5;
      await expect(model.forward(inputs)).rejects.toThrow('input visible is mask[S]: element 4 is 0.5; a mask holds only 0 and 1');
    } finally {
      model.dispose();
    }
  });
});
