// The benchmark's cases, their seeded weights and inputs (seqc's row-major parameters, the
// [T, B, ...] layout), and the maps from seqc's parameters to tfjs's and ONNX's layouts.
import { Random } from '../dist/runtime/init.js';

const big = { B: 32, T: 64, I: 128, H: 256 };
const small = { B: 1, T: 128, I: 64, H: 128 };
const tiny = { B: 2, T: 8, I: 8, H: 16 };

/** kind: forward | train. family: lstm | gru | mingru (what the peers build). peers: the only peers a case runs. */
export const CASES = {
  'lstm-big': { title: 'LSTM forward, big', family: 'lstm', kind: 'forward', file: 'examples/lstm.seq', ...big },
  'gru-big': { title: 'GRU forward, big', family: 'gru', kind: 'forward', file: 'examples/gru.seq', ...big },
  'lstm-small': { title: 'LSTM forward, small', family: 'lstm', kind: 'forward', file: 'examples/lstm.seq', ...small },
  'gru-small': { title: 'GRU forward, small', family: 'gru', kind: 'forward', file: 'examples/gru.seq', ...small },
  'lstm-train': { title: 'LSTM big + softmax(64) training step, Adam', family: 'lstm', kind: 'train', file: 'bench/cells/lstm-readout.seq', ...big, O: 64 },
  'mingru-big': { title: 'minGRU (custom cell) forward, big', family: 'mingru', kind: 'forward', file: 'examples/mingru.seq', ...big, O: 64 },
  // the parallel scan against seqc's own step loop; ORT's graph would unroll 1024 steps
  'mingru-long': { title: 'minGRU forward, T=1024: parallel scan against the step loop', family: 'mingru', kind: 'forward', file: 'examples/mingru.seq', B: 1, T: 1024, I: 64, H: 128, O: 64, peers: ['seqc', 'seqc-sequential', 'seqc-stepped', 'tfjs-webgpu'] },
  // not in the default set: for smoke runs and the test
  'lstm-tiny': { title: 'LSTM forward, tiny', family: 'lstm', kind: 'forward', file: 'examples/lstm.seq', ...tiny, hidden: true },
  'gru-tiny': { title: 'GRU forward, tiny', family: 'gru', kind: 'forward', file: 'examples/gru.seq', ...tiny, hidden: true },
  'mingru-tiny': { title: 'minGRU forward, tiny', family: 'mingru', kind: 'forward', file: 'examples/mingru.seq', ...tiny, O: 8, hidden: true },
  'lstm-train-tiny': { title: 'LSTM + softmax training step, tiny', family: 'lstm', kind: 'train', file: 'bench/cells/lstm-readout.seq', ...tiny, O: 8, hidden: true },
};

export const LEARNING_RATE = 1e-3;
export const ADAM = { kind: 'adam', learningRate: LEARNING_RATE, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** The project's seeded generator, so every peer and every run gets the same numbers. */
export function rng(seed) {
  const random = new Random(seed);
  return () => random.uniform();
}

function uniform(random, n, scale) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * random() - 1) * scale;
  return out;
}

/** seqc parameter shapes (row-major) per family. */
function paramShapes(c) {
  const { I, H, O } = c;
  if (c.family === 'lstm') {
    const shapes = { W: [4 * H, I], U: [4 * H, H], b: [4 * H] };
    if (c.kind === 'train') Object.assign(shapes, { Wy: [O, H], by: [O] });
    return shapes;
  }
  if (c.family === 'gru') return { Wz: [H, I], Wr: [H, I], Wn: [H, I], Uz: [H, H], Ur: [H, H], Un: [H, H], bz: [H], br: [H], bn: [H] };
  return { Wz: [H, I], Wn: [H, I], bz: [H], bn: [H], Wy: [O, H], by: [O] };
}

/** Weights uniform in ±1/sqrt(H) (PyTorch's RNN init), inputs in ±1, one-hot targets. */
export function caseData(c, seed = 1) {
  const random = rng(seed);
  const params = {};
  for (const [name, shape] of Object.entries(paramShapes(c))) params[name] = uniform(random, shape.reduce((a, b) => a * b, 1), 1 / Math.sqrt(c.H));
  const x = uniform(random, c.T * c.B * c.I, 1);
  let target;
  if (c.kind === 'train') {
    target = new Float32Array(c.T * c.B * c.O);
    for (let r = 0; r < c.T * c.B; r++) target[r * c.O + Math.floor(random() * c.O)] = 1;
  }
  return { params, x, target };
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transpose(a, rows, cols) {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = a[r * cols + k];
  return out;
}

/** [T, B, N] <-> [B, T, N]. */
export function swapTB(a, T, B, N) {
  const out = new Float32Array(a.length);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) out.set(a.subarray((t * B + b) * N, (t * B + b + 1) * N), (b * T + t) * N);
  return out;
}

function concat(...parts) {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Gate blocks of a row-stacked [G*H, ...] tensor, reordered. */
function gates(a, H, from, to) {
  const block = a.length / from.length;
  return concat(...to.map((g) => a.subarray(from.indexOf(g) * block, (from.indexOf(g) + 1) * block)));
}

/**
 * tfjs layer weights: LSTM kernel [I, 4H] / recurrent [H, 4H] / bias [4H], gates i,f,c,o
 * (seqc's order); GRU (reset_after = false, tfjs's only mode) kernel [I, 3H] z,r,h with one bias;
 * Dense kernel [H, O].
 */
export function tfjsWeights(c, p) {
  const { I, H, O } = c;
  if (c.family === 'lstm') {
    const layers = [[transpose(p.W, 4 * H, I), transpose(p.U, 4 * H, H), p.b]];
    if (c.kind === 'train') layers.push([transpose(p.Wy, O, H), p.by]);
    return layers;
  }
  if (c.family === 'gru') {
    return [[transpose(concat(p.Wz, p.Wr, p.Wn), 3 * H, I), transpose(concat(p.Uz, p.Ur, p.Un), 3 * H, H), concat(p.bz, p.br, p.bn)]];
  }
  throw new Error(`no tfjs layer for ${c.family}`);
}

/** ONNX LSTM (gates i,o,f,c) / GRU (z,r,h, linear_before_reset = 0) tensors, one direction. */
export function onnxWeights(c, p) {
  const { H } = c;
  if (c.family === 'lstm') {
    const order = ['i', 'f', 'g', 'o'];
    const onnx = ['i', 'o', 'f', 'g'];
    return { W: gates(p.W, H, order, onnx), R: gates(p.U, H, order, onnx), B: concat(gates(p.b, H, order, onnx), new Float32Array(4 * H)) };
  }
  if (c.family === 'gru') return { W: concat(p.Wz, p.Wr, p.Wn), R: concat(p.Uz, p.Ur, p.Un), B: concat(p.bz, p.br, p.bn, new Float32Array(3 * H)) };
  throw new Error(`no ONNX RNN node for ${c.family}`);
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
