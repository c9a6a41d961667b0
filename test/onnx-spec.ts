/**
 * Independent float64 implementations of the ONNX `RNN`, `GRU` and `LSTM` operators (one
 * forward direction) and of PyTorch's one-layer `nn.RNN`, `nn.GRU` and `nn.LSTM`, written
 * straight from the equations in the ONNX operator spec and the PyTorch docs. They share
 * nothing with the compiler or with `runtime/weights.ts`, so tests can hold either one
 * against them.
 *
 * Layouts are row-major: X is `[T, batch, I]`, Y is `[T, batch, H]`, states are
 * `[batch, H]`. Weights are given without ONNX's leading `num_directions` axis.
 */

export type Vec = ArrayLike<number>;

/** seq_length, batch_size, input_size and hidden_size */
export interface Dims {
  readonly T: number;
  readonly batch: number;
  readonly I: number;
  readonly H: number;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const relu = (x: number): number => (x > 0 ? x : 0);

/**
 * Row `row` of the row-major matrix `M` (with `cols` columns) dotted with `v[off .. off+cols)`.
 * `(Xt Wg^T)[b, k]` is `dot(W, g*H + k, I, X, (t*batch + b)*I)`.
 */
function dot(M: Vec, row: number, cols: number, v: Vec, off: number): number {
  let s = 0;
  for (let j = 0; j < cols; j++) s += M[row * cols + j]! * v[off + j]!;
  return s;
}

/** `a[i]`, or 0 where `a` is left out (ONNX's and PyTorch's default for B, P, initial states). */
const at = (a: Vec | undefined, i: number): number => (a === undefined ? 0 : a[i]!);

function start(dims: Dims, init: Vec | undefined): Float64Array {
  const s = new Float64Array(dims.batch * dims.H);
  if (init !== undefined) for (let i = 0; i < s.length; i++) s[i] = init[i]!;
  return s;
}

// ---------------------------------------------------------------------------------------
// ONNX

export interface OnnxRnnArgs {
  /** `[T, batch, I]` */
  readonly X: Vec;
  /** `[H, I]` */
  readonly W: Vec;
  /** `[H, H]` */
  readonly R: Vec;
  /** `[2*H]`: Wbi then Rbi */
  readonly B?: Vec;
  /** `[batch, H]` */
  readonly initialH?: Vec;
  readonly dims: Dims;
  /** f: Tanh (the default) or Relu */
  readonly activation?: 'Tanh' | 'Relu';
}

/** ONNX `RNN`: Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi). */
export function onnxRnn(a: OnnxRnnArgs): { Y: Float64Array; Y_h: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const f = a.activation === 'Relu' ? relu : Math.tanh;
  const Y = new Float64Array(T * batch * H);
  let Hp = start(a.dims, a.initialH);
  for (let t = 0; t < T; t++) {
    const Ht = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      const xo = (t * batch + b) * I;
      for (let k = 0; k < H; k++) {
        Ht[b * H + k] = f(dot(a.W, k, I, a.X, xo) + dot(a.R, k, H, Hp, b * H) + at(a.B, k) + at(a.B, H + k));
      }
    }
    Y.set(Ht, t * batch * H);
    Hp = Ht;
  }
  return { Y, Y_h: Hp };
}

export interface OnnxGruArgs {
  /** `[T, batch, I]` */
  readonly X: Vec;
  /** `[3*H, I]`, gates z, r, h */
  readonly W: Vec;
  /** `[3*H, H]`, gates z, r, h */
  readonly R: Vec;
  /** `[6*H]`: Wb[zrh] then Rb[zrh] */
  readonly B?: Vec;
  /** `[batch, H]` */
  readonly initialH?: Vec;
  readonly dims: Dims;
  /** ONNX's linear_before_reset attribute; 0 (false) by default */
  readonly linearBeforeReset?: boolean | 0 | 1;
}

/**
 * ONNX `GRU` (f = Sigmoid, g = Tanh):
 *
 *     zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)
 *     rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)
 *     ht = g(Xt Wh^T + (rt ∘ Ht-1) Rh^T + Rbh + Wbh)      linear_before_reset = 0
 *     ht = g(Xt Wh^T + rt ∘ (Ht-1 Rh^T + Rbh) + Wbh)      linear_before_reset != 0
 *     Ht = (1 - zt) ∘ ht + zt ∘ Ht-1
 */
export function onnxGru(a: OnnxGruArgs): { Y: Float64Array; Y_h: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const lbr = Boolean(a.linearBeforeReset);
  const [Z, R, C] = [0, 1, 2]; // gate blocks in ONNX order z, r, h
  const Wb = (g: number, k: number) => at(a.B, g * H + k);
  const Rb = (g: number, k: number) => at(a.B, 3 * H + g * H + k);
  const Y = new Float64Array(T * batch * H);
  let Hp = start(a.dims, a.initialH);
  for (let t = 0; t < T; t++) {
    const Ht = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      const xo = (t * batch + b) * I;
      const ho = b * H;
      const z = new Float64Array(H);
      const r = new Float64Array(H);
      for (let k = 0; k < H; k++) {
        z[k] = sigmoid(dot(a.W, Z * H + k, I, a.X, xo) + dot(a.R, Z * H + k, H, Hp, ho) + Wb(Z, k) + Rb(Z, k));
        r[k] = sigmoid(dot(a.W, R * H + k, I, a.X, xo) + dot(a.R, R * H + k, H, Hp, ho) + Wb(R, k) + Rb(R, k));
      }
      const rH = new Float64Array(H); // rt ∘ Ht-1 for this batch row
      for (let j = 0; j < H; j++) rH[j] = r[j]! * Hp[ho + j]!;
      for (let k = 0; k < H; k++) {
        const xh = dot(a.W, C * H + k, I, a.X, xo);
        const h = lbr
          ? Math.tanh(xh + r[k]! * (dot(a.R, C * H + k, H, Hp, ho) + Rb(C, k)) + Wb(C, k))
          : Math.tanh(xh + dot(a.R, C * H + k, H, rH, 0) + Rb(C, k) + Wb(C, k));
        Ht[ho + k] = (1 - z[k]!) * h + z[k]! * Hp[ho + k]!;
      }
    }
    Y.set(Ht, t * batch * H);
    Hp = Ht;
  }
  return { Y, Y_h: Hp };
}

export interface OnnxLstmArgs {
  /** `[T, batch, I]` */
  readonly X: Vec;
  /** `[4*H, I]`, gates i, o, f, c */
  readonly W: Vec;
  /** `[4*H, H]`, gates i, o, f, c */
  readonly R: Vec;
  /** `[8*H]`: Wb[iofc] then Rb[iofc] */
  readonly B?: Vec;
  /** `[3*H]`: P[iof] */
  readonly P?: Vec;
  /** `[batch, H]` */
  readonly initialH?: Vec;
  /** `[batch, H]` */
  readonly initialC?: Vec;
  readonly dims: Dims;
}

/**
 * ONNX `LSTM` (f = Sigmoid, g = Tanh, h = Tanh, input_forget = 0):
 *
 *     it = f(Xt Wi^T + Ht-1 Ri^T + Pi ∘ Ct-1 + Wbi + Rbi)
 *     ft = f(Xt Wf^T + Ht-1 Rf^T + Pf ∘ Ct-1 + Wbf + Rbf)
 *     ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
 *     Ct = ft ∘ Ct-1 + it ∘ ct
 *     ot = f(Xt Wo^T + Ht-1 Ro^T + Po ∘ Ct + Wbo + Rbo)
 *     Ht = ot ∘ h(Ct)
 */
export function onnxLstm(a: OnnxLstmArgs): { Y: Float64Array; Y_h: Float64Array; Y_c: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const [Gi, Go, Gf, Gc] = [0, 1, 2, 3]; // gate blocks in ONNX order i, o, f, c
  const [Pi, Po, Pf] = [0, 1, 2]; // peephole blocks in ONNX order i, o, f
  const Y = new Float64Array(T * batch * H);
  let Hp = start(a.dims, a.initialH);
  let Cp = start(a.dims, a.initialC);
  for (let t = 0; t < T; t++) {
    const Ht = new Float64Array(batch * H);
    const Ct = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      const xo = (t * batch + b) * I;
      const ho = b * H;
      // the gate pre-activation without peepholes: Xt Wg^T + Ht-1 Rg^T + Wbg + Rbg
      const pre = (g: number, k: number) =>
        dot(a.W, g * H + k, I, a.X, xo) + dot(a.R, g * H + k, H, Hp, ho) + at(a.B, g * H + k) + at(a.B, 4 * H + g * H + k);
      for (let k = 0; k < H; k++) {
        const cPrev = Cp[ho + k]!;
        const it = sigmoid(pre(Gi, k) + at(a.P, Pi * H + k) * cPrev);
        const ft = sigmoid(pre(Gf, k) + at(a.P, Pf * H + k) * cPrev);
        const ct = Math.tanh(pre(Gc, k));
        const C = ft * cPrev + it * ct;
        const ot = sigmoid(pre(Go, k) + at(a.P, Po * H + k) * C);
        Ct[ho + k] = C;
        Ht[ho + k] = ot * Math.tanh(C);
      }
    }
    Y.set(Ht, t * batch * H);
    Hp = Ht;
    Cp = Ct;
  }
  return { Y, Y_h: Hp, Y_c: Cp };
}

// ---------------------------------------------------------------------------------------
// PyTorch

/** A one-layer, one-direction PyTorch state dict. */
export interface TorchParams {
  /** `[G*H, I]` */
  readonly weight_ih_l0: Vec;
  /** `[G*H, H]` */
  readonly weight_hh_l0: Vec;
  /** `[G*H]` */
  readonly bias_ih_l0?: Vec;
  /** `[G*H]` */
  readonly bias_hh_l0?: Vec;
}

export interface TorchArgs {
  /** input, `[T, batch, I]` (batch_first = False) */
  readonly x: Vec;
  readonly params: TorchParams;
  /** `[batch, H]` */
  readonly h0?: Vec;
  readonly dims: Dims;
}

/** `W_ig x + b_ig + W_hg h + b_hg` for gate block `g`, hidden unit `k`. */
function torchPre(p: TorchParams, d: Dims, x: Vec, xo: number, h: Vec, ho: number, g: number, k: number): number {
  const row = g * d.H + k;
  return dot(p.weight_ih_l0, row, d.I, x, xo) + at(p.bias_ih_l0, row) + dot(p.weight_hh_l0, row, d.H, h, ho) + at(p.bias_hh_l0, row);
}

/** `nn.RNN`: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu). */
export function torchRnn(a: TorchArgs & { readonly nonlinearity?: 'tanh' | 'relu' }): { output: Float64Array; h_n: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const act = a.nonlinearity === 'relu' ? relu : Math.tanh;
  const output = new Float64Array(T * batch * H);
  let hp = start(a.dims, a.h0);
  for (let t = 0; t < T; t++) {
    const ht = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      for (let k = 0; k < H; k++) ht[b * H + k] = act(torchPre(a.params, a.dims, a.x, (t * batch + b) * I, hp, b * H, 0, k));
    }
    output.set(ht, t * batch * H);
    hp = ht;
  }
  return { output, h_n: hp };
}

/**
 * `nn.GRU`, gates stacked r, z, n:
 *
 *     r = σ(W_ir x + b_ir + W_hr h + b_hr)
 *     z = σ(W_iz x + b_iz + W_hz h + b_hz)
 *     n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
 *     h' = (1 − z) ∘ n + z ∘ h
 */
export function torchGru(a: TorchArgs): { output: Float64Array; h_n: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const p = a.params;
  const [Gr, Gz, Gn] = [0, 1, 2];
  const output = new Float64Array(T * batch * H);
  let hp = start(a.dims, a.h0);
  for (let t = 0; t < T; t++) {
    const ht = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      const xo = (t * batch + b) * I;
      const ho = b * H;
      for (let k = 0; k < H; k++) {
        const r = sigmoid(torchPre(p, a.dims, a.x, xo, hp, ho, Gr, k));
        const z = sigmoid(torchPre(p, a.dims, a.x, xo, hp, ho, Gz, k));
        const row = Gn * H + k;
        const n = Math.tanh(
          dot(p.weight_ih_l0, row, I, a.x, xo) + at(p.bias_ih_l0, row) + r * (dot(p.weight_hh_l0, row, H, hp, ho) + at(p.bias_hh_l0, row)),
        );
        ht[ho + k] = (1 - z) * n + z * hp[ho + k]!;
      }
    }
    output.set(ht, t * batch * H);
    hp = ht;
  }
  return { output, h_n: hp };
}

/**
 * `nn.LSTM`, gates stacked i, f, g, o:
 *
 *     i = σ(W_ii x + b_ii + W_hi h + b_hi)
 *     f = σ(W_if x + b_if + W_hf h + b_hf)
 *     g = tanh(W_ig x + b_ig + W_hg h + b_hg)
 *     o = σ(W_io x + b_io + W_ho h + b_ho)
 *     c' = f ∘ c + i ∘ g
 *     h' = o ∘ tanh(c')
 */
export function torchLstm(a: TorchArgs & { readonly c0?: Vec }): { output: Float64Array; h_n: Float64Array; c_n: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const p = a.params;
  const [Gi, Gf, Gg, Go] = [0, 1, 2, 3];
  const output = new Float64Array(T * batch * H);
  let hp = start(a.dims, a.h0);
  let cp = start(a.dims, a.c0);
  for (let t = 0; t < T; t++) {
    const ht = new Float64Array(batch * H);
    const ct = new Float64Array(batch * H);
    for (let b = 0; b < batch; b++) {
      const xo = (t * batch + b) * I;
      const ho = b * H;
      for (let k = 0; k < H; k++) {
        const i = sigmoid(torchPre(p, a.dims, a.x, xo, hp, ho, Gi, k));
        const f = sigmoid(torchPre(p, a.dims, a.x, xo, hp, ho, Gf, k));
        const g = Math.tanh(torchPre(p, a.dims, a.x, xo, hp, ho, Gg, k));
        const o = sigmoid(torchPre(p, a.dims, a.x, xo, hp, ho, Go, k));
        const c = f * cp[ho + k]! + i * g;
        ct[ho + k] = c;
        ht[ho + k] = o * Math.tanh(c);
      }
    }
    output.set(ht, t * batch * H);
    hp = ht;
    cp = ct;
  }
  return { output, h_n: hp, c_n: cp };
}

// ---------------------------------------------------------------------------------------
// Random cases, shared by the tests

/** mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` weights in [-1, 1] on a grid of 2^-10, as a Float32Array. On that grid the sum of two
 * weights is exact in float32, so mappers that fold Wb + Rb into one float32 bias lose
 * nothing and the comparisons can be held to 1e-9.
 */
export function gridWeights(rand: () => number, n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.round((rand() * 2 - 1) * 1024) / 1024;
  return w;
}

/** `n` float64 values uniform in [-1, 1). */
export function randomInputs(rand: () => number, n: number): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = rand() * 2 - 1;
  return x;
}

export type SpecCell = 'rnn' | 'rnn-relu' | 'gru' | 'gru-reset-after' | 'lstm' | 'lstm-peephole';

const GATES: Record<SpecCell, number> = { rnn: 1, 'rnn-relu': 1, gru: 3, 'gru-reset-after': 3, lstm: 4, 'lstm-peephole': 4 };

export interface OnnxCase {
  readonly tensors: { W: Float32Array; R: Float32Array; B?: Float32Array; P?: Float32Array };
  readonly X: Float64Array;
  /** `[batch, H]`, only when drawn */
  readonly initialH?: Float64Array;
  /** `[batch, H]`, LSTMs only, only when drawn */
  readonly initialC?: Float64Array;
  /** `[T, batch, H]` */
  readonly Y: Float64Array;
  /** `[batch, H]` */
  readonly Y_h: Float64Array;
  /** LSTMs only, `[batch, H]` */
  readonly Y_c?: Float64Array;
}

export interface CaseOptions {
  /** false leaves the biases out (default true) */
  readonly withBias?: boolean;
  /** true draws random initial states; by default they are zeros, as the example cells start */
  readonly initialStates?: boolean;
}

/** Random ONNX weights and input for `cell`, run through the ONNX spec. */
export function randomOnnxCase(cell: SpecCell, seed: number, dims: Dims, { withBias = true, initialStates = false }: CaseOptions = {}): OnnxCase {
  const rand = mulberry32(seed);
  const { T, batch, I, H } = dims;
  const G = GATES[cell];
  const W = gridWeights(rand, G * H * I);
  const R = gridWeights(rand, G * H * H);
  const B = withBias ? gridWeights(rand, 2 * G * H) : undefined;
  const P = cell === 'lstm-peephole' ? gridWeights(rand, 3 * H) : undefined;
  const X = randomInputs(rand, T * batch * I);
  const initialH = initialStates ? randomInputs(rand, batch * H) : undefined;
  const initialC = initialStates && G === 4 ? randomInputs(rand, batch * H) : undefined;
  const tensors = { W, R, ...(B && { B }), ...(P && { P }) };
  const common = { tensors, X, ...(initialH && { initialH }), ...(initialC && { initialC }) };
  switch (cell) {
    case 'rnn':
    case 'rnn-relu':
      return { ...common, ...onnxRnn({ X, W, R, B, initialH, dims, activation: cell === 'rnn' ? 'Tanh' : 'Relu' }) };
    case 'gru':
    case 'gru-reset-after':
      return { ...common, ...onnxGru({ X, W, R, B, initialH, dims, linearBeforeReset: cell === 'gru-reset-after' }) };
    case 'lstm':
    case 'lstm-peephole':
      return { ...common, ...onnxLstm({ X, W, R, B, P, initialH, initialC, dims }) };
  }
}

export type SpecTorchCell = 'rnn' | 'rnn-relu' | 'gru-reset-after' | 'lstm';

export interface TorchCase {
  readonly stateDict: { weight_ih_l0: Float32Array; weight_hh_l0: Float32Array; bias_ih_l0?: Float32Array; bias_hh_l0?: Float32Array };
  readonly x: Float64Array;
  /** `[batch, H]`, only when drawn */
  readonly h0?: Float64Array;
  /** `[batch, H]`, `nn.LSTM` only, only when drawn */
  readonly c0?: Float64Array;
  /** `[T, batch, H]` */
  readonly output: Float64Array;
  /** `[batch, H]` */
  readonly h_n: Float64Array;
  /** `nn.LSTM` only, `[batch, H]` */
  readonly c_n?: Float64Array;
}

/** Random PyTorch weights and input for `cell`, run through the PyTorch equations. */
export function randomTorchCase(cell: SpecTorchCell, seed: number, dims: Dims, { withBias = true, initialStates = false }: CaseOptions = {}): TorchCase {
  const rand = mulberry32(seed);
  const { T, batch, I, H } = dims;
  const G = GATES[cell];
  const stateDict = {
    weight_ih_l0: gridWeights(rand, G * H * I),
    weight_hh_l0: gridWeights(rand, G * H * H),
    ...(withBias && { bias_ih_l0: gridWeights(rand, G * H), bias_hh_l0: gridWeights(rand, G * H) }),
  };
  const x = randomInputs(rand, T * batch * I);
  const h0 = initialStates ? randomInputs(rand, batch * H) : undefined;
  const c0 = initialStates && G === 4 ? randomInputs(rand, batch * H) : undefined;
  const args = { x, params: stateDict, h0, dims };
  const common = { stateDict, x, ...(h0 && { h0 }), ...(c0 && { c0 }) };
  switch (cell) {
    case 'rnn':
    case 'rnn-relu':
      return { ...common, ...torchRnn({ ...args, nonlinearity: cell === 'rnn' ? 'tanh' : 'relu' }) };
    case 'gru-reset-after':
      return { ...common, ...torchGru(args) };
    case 'lstm':
      return { ...common, ...torchLstm({ ...args, c0 }) };
  }
}

// ---------------------------------------------------------------------------------------
// ONNX LSTM with its `direction` and `sequence_lens` attributes

export interface OnnxLstmFullArgs {
  /** `[T, batch, I]` */
  readonly X: Vec;
  /** `[D, 4*H, I]`, `[D, 4*H, H]`, `[D, 8*H]` with D = 2 for bidirectional, else 1 */
  readonly W: Vec;
  readonly R: Vec;
  readonly B?: Vec;
  /** `[batch]`: steps of each sequence (default all T) */
  readonly sequenceLens?: ArrayLike<number>;
  readonly direction: 'forward' | 'reverse' | 'bidirectional';
  readonly dims: Dims;
}

/**
 * ONNX `LSTM` with directions and sequence lengths: each example's first `sequence_lens[b]`
 * steps are run forward, in reverse, or both; Y is `[T, D, batch, H]` with zeros past each
 * sequence's length, and Y_h, Y_c are `[D, batch, H]`, the states after each direction's last
 * processed step (t = len-1 forward, t = 0 in reverse). Built on `onnxLstm` one example and
 * one direction at a time, on the example's steps in that direction's order.
 */
export function onnxLstmFull(a: OnnxLstmFullArgs): { Y: Float64Array; Y_h: Float64Array; Y_c: Float64Array } {
  const { T, batch, I, H } = a.dims;
  const directions = a.direction === 'bidirectional' ? ['forward', 'reverse'] : [a.direction];
  const D = directions.length;
  const Y = new Float64Array(T * D * batch * H);
  const Y_h = new Float64Array(D * batch * H);
  const Y_c = new Float64Array(D * batch * H);
  const slice = (v: Vec, d: number, n: number) => Array.from({ length: n }, (_, i) => v[d * n + i]!);
  directions.forEach((direction, d) => {
    const W = slice(a.W, d, 4 * H * I);
    const R = slice(a.R, d, 4 * H * H);
    const B = a.B && slice(a.B, d, 8 * H);
    for (let b = 0; b < batch; b++) {
      const len = a.sequenceLens ? a.sequenceLens[b]! : T;
      if (len === 0) continue;
      const order = Array.from({ length: len }, (_, s) => (direction === 'forward' ? s : len - 1 - s));
      const X = order.flatMap((t) => Array.from({ length: I }, (_, i) => a.X[(t * batch + b) * I + i]!));
      const r = onnxLstm({ X, W, R, ...(B && { B }), dims: { T: len, batch: 1, I, H } });
      order.forEach((t, s) => Y.set(r.Y.subarray(s * H, (s + 1) * H), ((t * D + d) * batch + b) * H));
      Y_h.set(r.Y_h, (d * batch + b) * H);
      Y_c.set(r.Y_c, (d * batch + b) * H);
    }
  });
  return { Y, Y_h, Y_c };
}
