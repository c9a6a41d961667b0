import { describe, it, expect } from 'vitest';
import { fromOnnx, fromTorch, type OnnxCell, type TorchCell } from '../runtime/weights.js';
import {
  type Dims,
  type Vec,
  onnxGru,
  onnxLstm,
  onnxRnn,
  randomOnnxCase,
  randomTorchCase,
  torchGru,
  torchLstm,
  torchRnn,
} from './onnx-spec.js';

const TOL = 1e-9;

function expectClose(actual: Vec, expected: Vec, tol = TOL): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThan(tol);
}

// ---------------------------------------------------------------------------------------
// 1. The spec implementations against hand-worked cases (I = 1, H = 1, T = 2, batch = 1).
//    Every intermediate below was worked step by step, sigmoid(a) = 1 / (1 + e^-a).

describe('ONNX spec implementation, hand-worked', () => {
  const dims: Dims = { T: 2, batch: 1, I: 1, H: 1 };

  it('RNN (Tanh) with an initial state', () => {
    // W = 0.5, R = -0.25, Wb = 0.1, Rb = 0.2, X = [1, -2], H0 = 0.3
    // t=0: a = 0.5*1 - 0.25*0.3 + 0.1 + 0.2 = 0.725           H1 = tanh(0.725)  = 0.619996867969
    // t=1: a = 0.5*(-2) - 0.25*0.619996867969 + 0.3
    //        = -0.854999216992                                 H2 = tanh(a)      = -0.693672162231
    const r = onnxRnn({ X: [1, -2], W: [0.5], R: [-0.25], B: [0.1, 0.2], initialH: [0.3], dims });
    expectClose(r.Y, [0.619996867969, -0.693672162231]);
    expectClose(r.Y_h, [-0.693672162231]);
  });

  it('RNN (Relu)', () => {
    // same weights: t=0: a = 0.725 -> 0.725; t=1: a = -1 - 0.25*0.725 + 0.3 = -0.88125 -> 0
    const r = onnxRnn({ X: [1, -2], W: [0.5], R: [-0.25], B: [0.1, 0.2], initialH: [0.3], dims, activation: 'Relu' });
    expectClose(r.Y, [0.725, 0]);
    expectClose(r.Y_h, [0]);
  });

  // GRU: W[zrh] = [0.5, -0.5, 1], R[zrh] = [0.25, 0.5, -1], Wb[zrh] = [0.1, 0, 0.2],
  //      Rb[zrh] = [-0.1, 0.3, 0.4], X = [1, 0.5], H0 = 0
  const gru = { X: [1, 0.5], W: [0.5, -0.5, 1], R: [0.25, 0.5, -1], B: [0.1, 0, 0.2, -0.1, 0.3, 0.4], dims };

  it('GRU, linear_before_reset = 0', () => {
    // t=0: az = 0.5 + 0 + 0.1 - 0.1 = 0.5                       z = 0.622459331202
    //      ar = -0.5 + 0 + 0 + 0.3 = -0.2                       r = 0.450166002688
    //      ah = 1*1 + (r*0)*(-1) + 0.4 + 0.2 = 1.6              h~ = tanh(1.6) = 0.921668554406
    //      H1 = (1 - z)*h~ + z*0                                = 0.347967362441
    // t=1: az = 0.25 + 0.25*H1 + 0 = 0.336991840610             z = 0.583459620498
    //      ar = -0.25 + 0.5*H1 + 0.3 = 0.223983681220           r = 0.555762985345
    //      ah = 0.5 + (r*H1)*(-1) + 0.6 = 0.906612619847        h~ = 0.719502444095
    //      H2 = (1 - z)*h~ + z*H1                               = 0.502726726351
    const r = onnxGru({ ...gru, linearBeforeReset: 0 });
    expectClose(r.Y, [0.347967362441, 0.502726726351]);
    expectClose(r.Y_h, [0.502726726351]);
  });

  it('GRU, linear_before_reset = 1', () => {
    // t=0: z, r as above
    //      ah = 1 + r*(0*(-1) + 0.4) + 0.2 = 1.38006640108      h~ = 0.880966136029
    //      H1 = (1 - z)*h~                                      = 0.332600544185
    // t=1: az = 0.25 + 0.25*H1 = 0.333150136046                 z = 0.582525655476
    //      ar = 0.05 + 0.5*H1 = 0.216300272092                  r = 0.553865220944
    //      ah = 0.5 + r*(-H1 + 0.4) + 0.2 = 0.737330214487      h~ = 0.627529430028
    //      H2 = (1 - z)*h~ + z*H1                               = 0.455725787483
    const r = onnxGru({ ...gru, linearBeforeReset: 1 });
    expectClose(r.Y, [0.332600544185, 0.455725787483]);
    expectClose(r.Y_h, [0.455725787483]);
  });

  it('LSTM with peepholes', () => {
    // W[iofc] = [0.5, -0.3, 0.8, 1.2], R[iofc] = [0.1, 0.2, -0.4, 0.6],
    // Wb[iofc] = [0.05, 0.1, 0.2, -0.1], Rb[iofc] = [0, 0.05, 0.1, 0.3], P[iof] = [0.3, -0.2, 0.5],
    // X = [1, -1], H0 = C0 = 0
    // t=0: ai = 0.5 + 0.05 = 0.55                               i = 0.634135591011
    //      af = 0.8 + 0.3 = 1.1                                 f = 0.750260105595
    //      ac = 1.2 + 0.2 = 1.4                                 c~ = 0.885351648202
    //      C1 = f*0 + i*c~                                      = 0.561432990685
    //      ao = -0.3 + 0.15 - 0.2*C1 = -0.262286598137          o = 0.434801695036
    //      H1 = o*tanh(C1)                                      = 0.221331402239
    // t=1: ai = -0.5 + 0.1*H1 + 0.05 + 0.3*C1 = -0.259436962571  i = 0.435502120302
    //      af = -0.8 - 0.4*H1 + 0.3 + 0.5*C1 = -0.307816065553   f = 0.423647901806
    //      ac = -1.2 + 0.6*H1 + 0.2 = -0.867201158657            c~ = -0.699949318266
    //      C2 = f*C1 + i*c~                                      = -0.0669795037001
    //      ao = 0.3 + 0.2*H1 + 0.15 - 0.2*C2 = 0.507662181188    o = 0.624258275464
    //      H2 = o*tanh(C2)                                       = -0.0417500942949
    const r = onnxLstm({
      X: [1, -1],
      W: [0.5, -0.3, 0.8, 1.2],
      R: [0.1, 0.2, -0.4, 0.6],
      B: [0.05, 0.1, 0.2, -0.1, 0, 0.05, 0.1, 0.3],
      P: [0.3, -0.2, 0.5],
      dims,
    });
    expectClose(r.Y, [0.221331402239, -0.0417500942949]);
    expectClose(r.Y_h, [-0.0417500942949]);
    expectClose(r.Y_c, [-0.0669795037001]);
  });

  it('the PyTorch forms agree with the ONNX ones on the hand-worked weights', () => {
    // nn.RNN is ONNX RNN with b_ih = Wb, b_hh = Rb
    const rnn = torchRnn({ x: [1, -2], params: { weight_ih_l0: [0.5], weight_hh_l0: [-0.25], bias_ih_l0: [0.1], bias_hh_l0: [0.2] }, h0: [0.3], dims });
    expectClose(rnn.output, [0.619996867969, -0.693672162231]);
    // nn.GRU is ONNX GRU with linear_before_reset = 1, gates r, z, n instead of z, r, h
    const gruT = torchGru({
      x: [1, 0.5],
      params: { weight_ih_l0: [-0.5, 0.5, 1], weight_hh_l0: [0.5, 0.25, -1], bias_ih_l0: [0, 0.1, 0.2], bias_hh_l0: [0.3, -0.1, 0.4] },
      dims,
    });
    expectClose(gruT.output, [0.332600544185, 0.455725787483]);
    // nn.LSTM is ONNX LSTM without peepholes, gates i, f, g, o instead of i, o, f, c
    const W = [0.5, -0.3, 0.8, 1.2], R = [0.1, 0.2, -0.4, 0.6], B = [0.05, 0.1, 0.2, -0.1, 0, 0.05, 0.1, 0.3];
    const perm = [0, 2, 3, 1];
    const lstmT = torchLstm({
      x: [1, -1],
      params: {
        weight_ih_l0: perm.map((g) => W[g]!),
        weight_hh_l0: perm.map((g) => R[g]!),
        bias_ih_l0: perm.map((g) => B[g]!),
        bias_hh_l0: perm.map((g) => B[4 + g]!),
      },
      dims,
    });
    const lstmO = onnxLstm({ X: [1, -1], W, R, B, dims });
    expectClose(lstmT.output, lstmO.Y);
    expectClose(lstmT.c_n, lstmO.Y_c);
  });
});

// ---------------------------------------------------------------------------------------
// 2. The example cells, transcribed by hand from examples/<cell>.seq line by line, evaluated
//    on the mapped params.

type Params = Record<string, Float32Array>;

/** `W @ x` for row-major W with x.length columns. */
function mv(W: Vec, x: Vec): Float64Array {
  const cols = x.length;
  const y = new Float64Array(W.length / cols);
  for (let r = 0; r < y.length; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += W[r * cols + j]! * x[j]!;
    y[r] = s;
  }
  return y;
}
const zip = (f: (...v: number[]) => number, ...vs: Vec[]): Float64Array => Float64Array.from({ length: vs[0]!.length }, (_, i) => f(...vs.map((v) => v[i]!)));
const add = (...vs: Vec[]) => zip((...v) => v.reduce((a, b) => a + b, 0), ...vs);
const mul = (a: Vec, b: Vec) => zip((p, q) => p! * q!, a, b);
const oneMinus = (a: Vec) => zip((p) => 1 - p!, a);
const sigmoid = (a: Vec) => zip((p) => 1 / (1 + Math.exp(-p!)), a);
const tanh = (a: Vec) => zip((p) => Math.tanh(p!), a);
const relu = (a: Vec) => zip((p) => Math.max(p!, 0), a);
function split(v: Float64Array, n: number): Float64Array[] {
  const k = v.length / n;
  return Array.from({ length: n }, (_, i) => v.slice(i * k, (i + 1) * k));
}

interface State {
  readonly h: Float64Array;
  /** LSTMs only; carried unchanged by the others */
  readonly c: Float64Array;
}

/** One step of each example cell: (params, x[t], states at t-1) -> states at t. */
const STEPS: Record<OnnxCell, (p: Params, x: Vec, s: State) => State> = {
  // h[t] = tanh(W @ x[t] + U @ h[t-1] + b)
  rnn: (p, x, { h, c }) => ({ h: tanh(add(mv(p.W!, x), mv(p.U!, h), p.b!)), c }),
  // h[t] = relu(W @ x[t] + U @ h[t-1] + b)
  'rnn-relu': (p, x, { h, c }) => ({ h: relu(add(mv(p.W!, x), mv(p.U!, h), p.b!)), c }),
  gru: (p, x, { h, c }) => {
    const z = sigmoid(add(mv(p.Wz!, x), mv(p.Uz!, h), p.bz!)); // gate z = sigmoid(Wz @ x[t] + Uz @ h[t-1] + bz)
    const r = sigmoid(add(mv(p.Wr!, x), mv(p.Ur!, h), p.br!)); // gate r = sigmoid(Wr @ x[t] + Ur @ h[t-1] + br)
    const n = tanh(add(mv(p.Wn!, x), mv(p.Un!, mul(r, h)), p.bn!)); // let n = tanh(Wn @ x[t] + Un @ (r * h[t-1]) + bn)
    return { h: add(mul(oneMinus(z), n), mul(z, h)), c }; // h[t] = (1 - z) * n + z * h[t-1]
  },
  'gru-reset-after': (p, x, { h, c }) => {
    const [xz, xr, xn] = split(add(mv(p.W!, x), p.bW!), 3); // let xz, xr, xn = split(W @ x[t] + bW, 3)
    const [hz, hr, hn] = split(add(mv(p.U!, h), p.bU!), 3); // let hz, hr, hn = split(U @ h[t-1] + bU, 3)
    const z = sigmoid(add(xz!, hz!)); // gate z = sigmoid(xz + hz)
    const r = sigmoid(add(xr!, hr!)); // gate r = sigmoid(xr + hr)
    const n = tanh(add(xn!, mul(r, hn!))); // let n = tanh(xn + r * hn)
    return { h: add(mul(oneMinus(z), n), mul(z, h)), c }; // h[t] = (1 - z) * n + z * h[t-1]
  },
  lstm: (p, x, { h, c }) => {
    const [i, f, g, o] = split(add(mv(p.W!, x), mv(p.U!, h), p.b!), 4); // let i, f, g, o = split(W @ x[t] + U @ h[t-1] + b, 4)
    const ct = add(mul(sigmoid(f!), c), mul(sigmoid(i!), tanh(g!))); // c[t] = sigmoid(f) * c[t-1] + sigmoid(i) * tanh(g)
    return { h: mul(sigmoid(o!), tanh(ct)), c: ct }; // h[t] = sigmoid(o) * tanh(c[t])
  },
  'lstm-peephole': (p, x, { h, c }) => {
    const [i, f, g, o] = split(add(mv(p.W!, x), mv(p.U!, h), p.b!), 4);
    // c[t] = sigmoid(f + Pf * c[t-1]) * c[t-1] + sigmoid(i + Pi * c[t-1]) * tanh(g)
    const ct = add(mul(sigmoid(add(f!, mul(p.Pf!, c))), c), mul(sigmoid(add(i!, mul(p.Pi!, c))), tanh(g!)));
    return { h: mul(sigmoid(add(o!, mul(p.Po!, ct))), tanh(ct)), c: ct }; // h[t] = sigmoid(o + Po * c[t]) * tanh(c[t])
  },
};

/** Runs an example cell over X `[T, batch, I]` from zero states; returns h as `[T, batch, H]`. */
function runCell(cell: OnnxCell, p: Params, X: Vec, { T, batch, I, H }: Dims): Float64Array {
  const Y = new Float64Array(T * batch * H);
  for (let b = 0; b < batch; b++) {
    let s: State = { h: new Float64Array(H), c: new Float64Array(H) };
    for (let t = 0; t < T; t++) {
      const o = (t * batch + b) * I;
      s = STEPS[cell](p, Array.prototype.slice.call(X, o, o + I) as number[], s);
      Y.set(s.h, (t * batch + b) * H);
    }
  }
  return Y;
}

/** The param shapes declared in the example cells, as element counts. */
function shapes(cell: OnnxCell, I: number, H: number): Record<string, number> {
  switch (cell) {
    case 'rnn':
    case 'rnn-relu':
      return { W: H * I, U: H * H, b: H };
    case 'gru':
      return { Wz: H * I, Wr: H * I, Wn: H * I, Uz: H * H, Ur: H * H, Un: H * H, bz: H, br: H, bn: H };
    case 'gru-reset-after':
      return { W: 3 * H * I, U: 3 * H * H, bW: 3 * H, bU: 3 * H };
    case 'lstm':
      return { W: 4 * H * I, U: 4 * H * H, b: 4 * H };
    case 'lstm-peephole':
      return { W: 4 * H * I, U: 4 * H * H, b: 4 * H, Pi: H, Pf: H, Po: H };
  }
}

const ONNX_CELLS: OnnxCell[] = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'lstm', 'lstm-peephole'];
const TORCH_CELLS: TorchCell[] = ['rnn', 'rnn-relu', 'gru-reset-after', 'lstm'];
const dims: Dims = { T: 5, batch: 3, I: 3, H: 4 };
const sizes = { I: dims.I, H: dims.H };

describe('fromOnnx', () => {
  for (const cell of ONNX_CELLS) {
    for (const withBias of [true, false]) {
      it(`${cell}${withBias ? '' : ' without B'}: the example cell on mapped weights matches ONNX`, () => {
        const c = randomOnnxCase(cell, 1234 + ONNX_CELLS.indexOf(cell), dims, { withBias });
        const params = fromOnnx(cell, c.tensors, sizes);
        const want = shapes(cell, dims.I, dims.H);
        expect(Object.keys(params).sort()).toEqual(Object.keys(want).sort());
        for (const [name, n] of Object.entries(want)) {
          expect(params[name]).toBeInstanceOf(Float32Array);
          expect(params[name]!.length, name).toBe(n);
        }
        expectClose(runCell(cell, params, c.X, dims), c.Y);
      });
    }
  }

  it('moves whole gate blocks: LSTM i,o,f,c -> i,f,g,o; peepholes i,o,f', () => {
    const H = 2, I = 1;
    const block = (n: number, per: number) => Float32Array.from({ length: 4 * n * per }, (_, k) => Math.floor(k / (n * per)));
    const B = Float32Array.from({ length: 8 * H }, (_, k) => (k < 4 * H ? Math.floor(k / H) : 10 * Math.floor((k - 4 * H) / H)));
    const p = fromOnnx('lstm-peephole', { W: block(H, I), R: block(H, H), B, P: [1, 1, 2, 2, 3, 3] }, { I, H });
    expect(Array.from(p.W!)).toEqual([0, 0, 2, 2, 3, 3, 1, 1]);
    expect(Array.from(p.U!)).toEqual([0, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1]);
    expect(Array.from(p.b!)).toEqual([0, 0, 22, 22, 33, 33, 11, 11]);
    expect([...p.Pi!, ...p.Pf!, ...p.Po!]).toEqual([1, 1, 3, 3, 2, 2]);
  });

  it('keeps GRU biases apart for gru-reset-after and sums them for gru', () => {
    const H = 1, I = 1;
    const t = { W: [1, 2, 3], R: [4, 5, 6], B: [10, 20, 30, 100, 200, 300] };
    expect(fromOnnx('gru-reset-after', t, { I, H })).toEqual({
      W: Float32Array.from([1, 2, 3]),
      U: Float32Array.from([4, 5, 6]),
      bW: Float32Array.from([10, 20, 30]),
      bU: Float32Array.from([100, 200, 300]),
    });
    const g = fromOnnx('gru', t, { I, H });
    expect([...g.Wz!, ...g.Wr!, ...g.Wn!, ...g.Uz!, ...g.Ur!, ...g.Un!]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...g.bz!, ...g.br!, ...g.bn!]).toEqual([110, 220, 330]);
  });

  it('accepts number[] and returns fresh Float32Arrays', () => {
    const c = randomOnnxCase('lstm-peephole', 7, dims);
    const fromTyped = fromOnnx('lstm-peephole', c.tensors, sizes);
    const plain = { W: Array.from(c.tensors.W), R: Array.from(c.tensors.R), B: Array.from(c.tensors.B!), P: Array.from(c.tensors.P!) };
    const fromPlain = fromOnnx('lstm-peephole', plain, sizes);
    expect(fromPlain).toEqual(fromTyped);
    const rnn = fromOnnx('rnn', { W: [1, 2], R: [3] }, { I: 2, H: 1 });
    expect(rnn).toEqual({ W: Float32Array.from([1, 2]), U: Float32Array.from([3]), b: Float32Array.from([0]) });
    const W = Float32Array.from([1, 2]);
    const mapped = fromOnnx('rnn', { W, R: [3] }, { I: 2, H: 1 });
    expect(mapped.W).not.toBe(W);
    mapped.W![0] = 99;
    expect(W[0]).toBe(1);
  });

  it('names the tensor, the expected and the actual length when one is wrong', () => {
    const c = randomOnnxCase('lstm-peephole', 9, dims); // I = 3, H = 4
    const bad = (t: Partial<typeof c.tensors>) => () => fromOnnx('lstm-peephole', { ...c.tensors, ...t }, sizes);
    expect(bad({ W: new Float32Array(47) })).toThrow(/tensor W .*expected 48 .*got 47/);
    expect(bad({ R: new Float32Array(48) })).toThrow(/tensor R .*expected 64 .*got 48/);
    expect(bad({ B: new Float32Array(16) })).toThrow(/tensor B .*expected 32 .*got 16/);
    expect(bad({ P: new Float32Array(4) })).toThrow(/tensor P .*expected 12 .*got 4/);
    expect(() => fromOnnx('gru', { W: [], R: new Float32Array(48) }, sizes)).toThrow(/fromOnnx\('gru'\): tensor W .*expected 36 .*got 0/);
  });

  it('refuses what it cannot map faithfully', () => {
    expect(() => fromOnnx('lstm', { W: new Float32Array(8), R: new Float32Array(16), P: [0.5, 0, 0, 0, 0, 0] }, { I: 1, H: 2 })).toThrow(/lstm-peephole/);
    // zero peepholes lose nothing
    expect(fromOnnx('lstm', { W: new Float32Array(8), R: new Float32Array(16), P: [0, 0, 0, 0, 0, 0] }, { I: 1, H: 2 }).W).toHaveLength(8);
    expect(() => fromOnnx('gru', { W: [0, 0, 0], R: [0, 0, 0], P: [0, 0, 0] }, { I: 1, H: 1 })).toThrow(/P/);
    expect(() => fromOnnx('lstm2' as OnnxCell, { W: [], R: [] }, { I: 1, H: 1 })).toThrow(/unknown cell/);
    expect(() => fromOnnx('rnn', { W: [], R: [] }, { I: 0, H: 1 })).toThrow(/size I/);
  });
});

describe('fromTorch', () => {
  for (const cell of TORCH_CELLS) {
    for (const withBias of [true, false]) {
      it(`${cell}${withBias ? '' : ' without biases'}: the example cell on mapped weights matches PyTorch`, () => {
        const c = randomTorchCase(cell, 4321 + TORCH_CELLS.indexOf(cell), dims, { withBias });
        const params = fromTorch(cell, c.stateDict, sizes);
        const want = shapes(cell, dims.I, dims.H);
        expect(Object.keys(params).sort()).toEqual(Object.keys(want).sort());
        for (const [name, n] of Object.entries(want)) expect(params[name]!.length, name).toBe(n);
        expectClose(runCell(cell, params, c.x, dims), c.output);
      });
    }
  }

  it('reorders nn.GRU r,z,n to z,r,n and keeps its biases apart', () => {
    const p = fromTorch('gru-reset-after', { weight_ih_l0: [1, 2, 3], weight_hh_l0: [4, 5, 6], bias_ih_l0: [7, 8, 9], bias_hh_l0: [10, 11, 12] }, { I: 1, H: 1 });
    expect(p).toEqual({
      W: Float32Array.from([2, 1, 3]),
      U: Float32Array.from([5, 4, 6]),
      bW: Float32Array.from([8, 7, 9]),
      bU: Float32Array.from([11, 10, 12]),
    });
  });

  it('agrees with fromOnnx on the same layer', () => {
    // nn.LSTM gates i,f,g,o are ONNX's i,o,f,c permuted; nn.GRU is linear_before_reset = 1
    const c = randomTorchCase('lstm', 77, dims);
    const { weight_ih_l0: Wt, weight_hh_l0: Rt, bias_ih_l0: bi, bias_hh_l0: bh } = c.stateDict;
    const H = dims.H;
    const toOnnx = (t: Float32Array, per: number) => {
      const out = new Float32Array(t.length);
      [0, 3, 1, 2].forEach((src, dst) => out.set(t.subarray(src * H * per, (src + 1) * H * per), dst * H * per));
      return out;
    };
    const B = new Float32Array(8 * H);
    B.set(toOnnx(bi!, 1), 0);
    B.set(toOnnx(bh!, 1), 4 * H);
    expect(fromOnnx('lstm', { W: toOnnx(Wt, dims.I), R: toOnnx(Rt, H), B }, sizes)).toEqual(fromTorch('lstm', c.stateDict, sizes));
  });

  it('names the tensor, the expected and the actual length when one is wrong', () => {
    const c = randomTorchCase('gru-reset-after', 5, dims); // I = 3, H = 4, G = 3
    const bad = (t: object) => () => fromTorch('gru-reset-after', { ...c.stateDict, ...t }, sizes);
    expect(bad({ weight_ih_l0: new Float32Array(35) })).toThrow(/tensor weight_ih_l0 .*expected 36 .*got 35/);
    expect(bad({ weight_hh_l0: [1] })).toThrow(/tensor weight_hh_l0 .*expected 48 .*got 1/);
    expect(bad({ bias_ih_l0: new Float32Array(24) })).toThrow(/tensor bias_ih_l0 .*expected 12 .*got 24/);
    expect(bad({ bias_hh_l0: new Float32Array(4) })).toThrow(/tensor bias_hh_l0 .*expected 12 .*got 4/);
    expect(bad({ weight_ih_l0: undefined })).toThrow(/weight_ih_l0 is missing/);
    expect(() => fromTorch('gru' as TorchCell, c.stateDict, sizes)).toThrow(/no PyTorch layer/);
    expect(() => fromTorch('lstm-peephole' as TorchCell, c.stateDict, sizes)).toThrow(/no PyTorch layer/);
  });
});
