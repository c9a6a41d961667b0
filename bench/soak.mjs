// A long training run at small sizes: process memory and device buffers must stay flat.
// node bench/soak.mjs [steps]   (after npm run build); writes bench/results/soak.json
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { createModel, releaseDevice } from '../dist/runtime/index.js';

const steps = Number(process.argv[2] ?? 10_000);
const cell = lowerSource(readFileSync(new URL('../examples/lstm.seq', import.meta.url), 'utf8'), 'lstm.seq');
const sizes = { I: 8, H: 16 };
const T = 8;
const B = 4;
const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B, training: { optimizer: { kind: 'adam', learningRate: 1e-3 }, clipNorm: 1, stateful: true } }, buildTrainingPlans(cell, { kind: 'mse', output: 'h' }));
const x = Float32Array.from({ length: T * B * sizes.I }, (_, i) => Math.sin(i));
const target = Float32Array.from({ length: T * B * sizes.H }, (_, i) => 0.5 * Math.cos(i));
const samples = [];
const started = performance.now();
for (let s = 1; s <= steps; s++) {
  await model.trainStep({ x, target });
  if (s === 100 || s % 1000 === 0) {
    globalThis.gc?.();
    samples.push({ step: s, rssMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(1), heapMiB: +(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1), modelBuffers: model.bufferCount, loss: model.loss });
  }
}
const seconds = (performance.now() - started) / 1000;
const result = { steps, sizes, T, B, seconds: +seconds.toFixed(1), msPerStep: +((seconds * 1000) / steps).toFixed(2), device: model.deviceDescription, samples };
model.dispose();
await releaseDevice();
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/soak.json', import.meta.url), JSON.stringify(result, null, 2));
const first = samples[0];
const last = samples[samples.length - 1];
console.log(`${steps} steps in ${result.seconds} s (${result.msPerStep} ms/step); RSS ${first.rssMiB} MiB at step ${first.step} -> ${last.rssMiB} MiB at step ${last.step}; heap ${first.heapMiB} -> ${last.heapMiB} MiB; model device buffers ${first.modelBuffers} -> ${last.modelBuffers}`);
