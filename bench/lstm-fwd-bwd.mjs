#!/usr/bin/env node
// seqc's LSTM (examples/lstm.seq, PyTorch's nn.LSTM) at the shape the issue compares with
// cuDNN (B=64, T=100, I=512, H=512 by default): the forward, and the forward + backward of an
// MSE loss on h with an SGD update (trainStep: one submit, the loss read back), medians of
// --repeats after 3 warm-ups, as bench/torch_lstm.py times nn.LSTM on the same machine.
// Usage: node bench/lstm-fwd-bwd.mjs [--batch 64] [--steps 100] [--input 512] [--hidden 512] [--repeats 20] [--out file.json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { createModel, releaseDevice } from '../dist/runtime/index.js';
import { timeRuns } from './matmul.mjs';
import { writeAtomically } from './write-atomically.mjs';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' }, steps: { type: 'string', default: '100' }, input: { type: 'string', default: '512' },
    hidden: { type: 'string', default: '512' }, repeats: { type: 'string', default: '20' }, out: { type: 'string' },
  },
});
const [B, T, I, H, repeats] = ['batch', 'steps', 'input', 'hidden', 'repeats'].map((k) => Number(values[k]));
const file = 'examples/lstm.seq';
const cell = lowerSource(readFileSync(file, 'utf8'), file);
const plans = buildTrainingPlans(cell, { kind: 'mse', output: 'h' });
const model = await createModel(buildLaunchPlan(cell), { sizes: { I, H }, batch: B, seed: 1, training: { optimizer: { kind: 'sgd', learningRate: 1e-3 }, clipNorm: 0 } }, plans);

const random = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.5);
const x = random(T * B * I, 1);
const target = random(T * B * H, 2);

async function timed(work) {
  for (let i = 0; i < 3; i++) await work();
  const { min, median, max } = await timeRuns(work, repeats);
  const round = (v) => +v.toFixed(3);
  return { min: round(min), median: round(median), max: round(max), runs: repeats };
}

try {
  const forward = await timed(() => model.forward(x));
  const trainStep = await timed(() => model.trainStep({ x, target }));
  const result = {
    what: 'seqc LSTM (examples/lstm.seq): forward, and trainStep = forward + backward of MSE on h + SGD update in one submit (loss read back); host time per call, ms',
    device: model.deviceDescription,
    shape: { B, T, I, H },
    forward,
    trainStep,
  };
  const text = JSON.stringify(result, null, 1);
  if (values.out) writeAtomically(values.out, `${text}\n`);
  console.log(text);
} finally {
  model.dispose();
  await releaseDevice();
}
