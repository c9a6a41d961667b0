// The ConvLSTM of examples/convlstm.seq trained on this machine to predict the next frame of
// a moving dot. Each sequence is a dot on a Y x X grid moving one pixel per frame in one of
// the 9 directions (standing still included), placed so that it stays on the grid; the
// frame x[t] is the dot's one-hot map, the target of y[t] (softmax-ce over the pixels) the
// map of frame t + 1. At t = 0 only the dot's place hints at its direction (a dot that
// starts at the left edge does not move left); from t = 1 on h[t-1] has seen the previous
// frame, so the next position is certain and the loss can go to 0.
//
//   node bench/convlstm-dot.mjs [--steps 300] [--batch 16] [--lr 0.02] [--size 6] [--frames 5]
//
// Prints the training loss (mean per step and example) every 20 steps, then on 256 held-out
// sequences the loss and how often the most likely pixel of y[t] is where the dot goes
// next, at t = 0 and at t >= 1.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { defaultLoss } from '../dist/compiler/loss.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { Random } from '../dist/runtime/init.js';
import { createModel, releaseDevice } from '../dist/runtime/index.js';
import { Trainer } from '../dist/runtime/trainer.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' }, batch: { type: 'string', default: '16' }, lr: { type: 'string', default: '0.02' },
    size: { type: 'string', default: '6' }, frames: { type: 'string', default: '5' },
  },
});
const [steps, B, lr, side, T] = [Number(values.steps), Number(values.batch), Number(values.lr), Number(values.size), Number(values.frames)];
const sizes = { C: 1, M: 4, Y: side, X: side };
const P = side * side;

/** `count` sequences of T + 1 frames: inputs x (frames 0..T-1) and targets (frames 1..T), [T, count, P] each. */
function dots(random, count) {
  const x = new Float32Array(T * count * P);
  const target = new Float32Array(T * count * P);
  const pick = (n) => Math.min(n - 1, Math.floor(random.uniform() * n));
  // a start from which T steps of velocity v stay on the grid
  const start = (v) => {
    const [lo, hi] = [Math.max(0, -v * T), Math.min(side - 1, side - 1 - v * T)];
    return lo + pick(hi - lo + 1);
  };
  for (let b = 0; b < count; b++) {
    const [vy, vx] = [pick(3) - 1, pick(3) - 1];
    const [y0, x0] = [start(vy), start(vx)];
    for (let t = 0; t <= T; t++) {
      const at = (y0 + vy * t) * side + x0 + vx * t;
      if (t < T) x[(t * count + b) * P + at] = 1;
      if (t > 0) target[((t - 1) * count + b) * P + at] = 1;
    }
  }
  return { x, target };
}

const file = 'examples/convlstm.seq';
const cell = lowerSource(readFileSync(join(root, file), 'utf8'), file);
const started = performance.now();
const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B, seed: 1 });
const trainer = await Trainer.create(model, buildTrainingPlans(cell, defaultLoss(cell)), { optimizer: { kind: 'adam', learningRate: lr } });
console.log(`${file}: sizes C=1 M=4 Y=${side} X=${side}, T=${T}, B=${B}, Adam lr ${lr}; compiled in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const random = new Random(3);
let window = [];
const trainingStarted = performance.now();
for (let step = 1; step <= steps; step++) {
  window.push(await trainer.step(dots(random, B)));
  if (step % 20 === 0 || step === steps) {
    console.log(`step ${String(step).padStart(4)}  loss ${(window.reduce((a, v) => a + v, 0) / window.length).toFixed(3)}`);
    window = [];
  }
}
const perStep = (performance.now() - trainingStarted) / steps;

// held out: the loss and the argmax of y[t] against the dot's next position
const held = new Random(99);
const totals = { first: { loss: 0, hits: 0, n: 0 }, later: { loss: 0, hits: 0, n: 0 } };
for (let k = 0; k < 256 / B; k++) {
  const { x, target } = dots(held, B);
  const { outputs } = await model.forward({ x });
  const y = outputs['y'];
  for (let r = 0; r < T * B; r++) {
    const logits = y.subarray(r * P, (r + 1) * P);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
    const next = target.subarray(r * P, (r + 1) * P).indexOf(1);
    const bucket = r < B ? totals.first : totals.later;
    bucket.loss += lse - logits[next];
    bucket.hits += logits.indexOf(max) === next ? 1 : 0;
    bucket.n++;
  }
}
for (const [label, t] of [['t = 0', totals.first], ['t >= 1', totals.later]]) {
  console.log(`held out, ${label.padEnd(6)}: loss ${(t.loss / t.n).toFixed(3)}, next position right ${((100 * t.hits) / t.n).toFixed(1)}%`);
}
console.log(`(a uniform guess: loss ${Math.log(P).toFixed(3)}; ${(perStep).toFixed(0)} ms per training step)`);
trainer.dispose();
model.dispose();
await releaseDevice();
