// ONNX Runtime Web: one ONNX graph per case (bench/onnx.mjs writes the protobuf), run by the
// WebGPU execution provider on the same Dawn adapter (navigator.gpu from bench/gpu.mjs) and by
// the wasm backend as the CPU reference. LSTM and GRU are single ONNX LSTM / GRU nodes; minGRU
// is the graph an exporter writes for a Python loop: the input projections for all steps,
// then the recurrence unrolled over T (Split, Sub/Mul/Add per step, Concat), then the softmax
// readout. ORT-web has no training.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onnxModel } from '../onnx.mjs';
import { onnxWeights, transpose } from '../cases.mjs';

let ort;

async function load() {
  if (ort) return ort;
  // the bundle fetch()es its wasm glue and binary next to itself; Node's fetch has no file: URLs
  const fetch = globalThis.fetch;
  globalThis.fetch = (url, ...rest) => {
    const href = String(url instanceof Request ? url.url : url);
    if (!href.startsWith('file:')) return fetch(url, ...rest);
    const type = href.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
    return Promise.resolve(new Response(readFileSync(fileURLToPath(href)), { headers: { 'content-type': type } }));
  };
  ort = await import('onnxruntime-web/webgpu');
  // One thread, explicitly: with more, ORT starts its wasm threads from a blob: URL that Node's
  // module loader refuses (and its default reads navigator.hardwareConcurrency).
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  return ort;
}

/** The ONNX model bytes of a forward case, input X [T, B, I]; outputs named as seqc's. */
export function modelFor(c, p) {
  const { B, T, I, H } = c;
  const inputs = [{ name: 'X', dims: [T, B, I] }];
  if (c.family === 'lstm' || c.family === 'gru') {
    const G = c.family === 'lstm' ? 4 : 3;
    const w = onnxWeights(c, p);
    return onnxModel({
      nodes: [{ op: c.family.toUpperCase(), inputs: ['X', 'W', 'R', 'B'], outputs: ['h'], attrs: { hidden_size: H, ...(G === 3 ? { linear_before_reset: 0 } : {}) } }],
      initializers: [
        { name: 'W', dims: [1, G * H, I], data: w.W },
        { name: 'R', dims: [1, G * H, H], data: w.R },
        { name: 'B', dims: [1, 2 * G * H], data: w.B },
      ],
      inputs,
      outputs: [{ name: 'h', dims: [T, 1, B, H] }],
    });
  }
  // minGRU
  const O = c.O;
  const nodes = [
    { op: 'MatMul', inputs: ['X', 'WzT'], outputs: ['xz'] },
    { op: 'Add', inputs: ['xz', 'bz'], outputs: ['az'] },
    { op: 'Sigmoid', inputs: ['az'], outputs: ['z'] },
    { op: 'MatMul', inputs: ['X', 'WnT'], outputs: ['xn'] },
    { op: 'Add', inputs: ['xn', 'bn'], outputs: ['n'] },
    { op: 'Split', inputs: ['z'], outputs: Array.from({ length: T }, (_, t) => `z${t}`), attrs: { axis: 0 } },
    { op: 'Split', inputs: ['n'], outputs: Array.from({ length: T }, (_, t) => `n${t}`), attrs: { axis: 0 } },
  ];
  let prev = 'h0';
  for (let t = 0; t < T; t++) {
    nodes.push(
      { op: 'Sub', inputs: ['one', `z${t}`], outputs: [`keep${t}`] },
      { op: 'Mul', inputs: [`keep${t}`, prev], outputs: [`old${t}`] },
      { op: 'Mul', inputs: [`z${t}`, `n${t}`], outputs: [`new${t}`] },
      { op: 'Add', inputs: [`old${t}`, `new${t}`], outputs: [`h${t + 1}`] },
    );
    prev = `h${t + 1}`;
  }
  nodes.push(
    { op: 'Concat', inputs: Array.from({ length: T }, (_, t) => `h${t + 1}`), outputs: ['h'], attrs: { axis: 0 } },
    { op: 'MatMul', inputs: ['h', 'WyT'], outputs: ['hy'] },
    { op: 'Add', inputs: ['hy', 'by'], outputs: ['logits'] },
    { op: 'Softmax', inputs: ['logits'], outputs: ['y'], attrs: { axis: -1 } },
  );
  return onnxModel({
    nodes,
    initializers: [
      { name: 'WzT', dims: [I, H], data: transpose(p.Wz, H, I) },
      { name: 'WnT', dims: [I, H], data: transpose(p.Wn, H, I) },
      { name: 'bz', dims: [H], data: p.bz },
      { name: 'bn', dims: [H], data: p.bn },
      { name: 'WyT', dims: [H, O], data: transpose(p.Wy, O, H) },
      { name: 'by', dims: [O], data: p.by },
      { name: 'h0', dims: [1, B, H], data: new Float32Array(B * H) },
      { name: 'one', dims: [1], data: Float32Array.of(1) },
    ],
    inputs,
    outputs: [
      { name: 'h', dims: [T, B, H] },
      { name: 'y', dims: [T, B, O] },
    ],
  });
}

function peer(name, providers) {
  return {
    name,
    async prepare(c, data) {
      if (c.kind === 'train') throw new Skip('ONNX Runtime Web has no training');
      await load();
      const session = await ort.InferenceSession.create(modelFor(c, data.params), { executionProviders: providers, graphOptimizationLevel: 'all' });
      const feeds = { X: new ort.Tensor('float32', data.x, [c.T, c.B, c.I]) };
      return {
        run: async () => {
          const out = await session.run(feeds);
          const result = {};
          for (const [k, v] of Object.entries(out)) result[k] = v.data;
          return result;
        },
        outputs: (r) => r, // h is [T, 1, B, H] = [T, B, H]; y [T, B, O]
        dispose: () => session.release(),
      };
    },
  };
}

export class Skip extends Error {}

export const webgpu = peer('ort-webgpu', ['webgpu']);
export const wasm = peer('ort-wasm', ['wasm']);

export function backendInfo() {
  return ort ? { version: ort.env.versions?.web ?? ort.env.versions?.common, wasmThreads: ort.env.wasm.numThreads } : undefined;
}
