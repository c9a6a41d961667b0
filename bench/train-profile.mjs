// The char LM's training step on this adapter: the median step time and where it goes,
// per kernel. Usage: node bench/train-profile.mjs [--batch B] [--steps T] [--size H=128 ...] [--max-kernel-kib K] [--param-access texture|buffer] [--tune]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { characterInput, createCharModel, languageCell, oneHot } from '../dist/compiler/char-model.js';
import { MAX_KERNEL_CHARS } from '../dist/compiler/launch-plan.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { Trainer } from '../dist/runtime/trainer.js';
import { getDevice, releaseDevice, setParamAccess } from '../dist/runtime/index.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' }, steps: { type: 'string', default: '64' }, vocabulary: { type: 'string', default: '84' },
    size: { type: 'string', multiple: true, default: [] }, repeats: { type: 'string', default: '5' }, 'max-kernel-kib': { type: 'string', default: String(MAX_KERNEL_CHARS / 1024) }, file: { type: 'string', default: 'examples/charlm.seq' }, 'param-access': { type: 'string' }, tune: { type: 'boolean', default: false },
  },
});
const B = Number(values.batch);
const T = Number(values.steps);
const V = Number(values.vocabulary);
const sizes = Object.fromEntries(values.size.map((s) => s.split('=')).map(([k, v]) => [k, Number(v)]));
const program = lowerSource(readFileSync(values.file, 'utf8'), values.file);
const plans = buildTrainingPlans(program, { kind: 'softmax-ce', output: languageCell(program).output }, { maxKernelChars: Number(values['max-kernel-kib']) * 1024 });
if (values['param-access']) setParamAccess((await getDevice()).device, values['param-access']);
const model = await createCharModel(program, V, { sizes, batch: B, learningRate: 1e-3, clip: 5 }, plans);
const ids = Int32Array.from({ length: T * B }, (_, i) => (i * 7919) % V);
const next = Int32Array.from({ length: T * B }, (_, i) => (i * 104729) % V);
const batch = { x: characterInput(model, ids), target: oneHot(next, V) };
const trainer = await Trainer.create(model, plans, { optimizer: { kind: 'adam', learningRate: 1e-3 }, clipNorm: 5, tune: values.tune });
for (let i = 0; i < 2; i++) await trainer.step(batch);
const times = [];
for (let i = 0; i < Number(values.repeats); i++) {
  const start = performance.now();
  await trainer.step(batch);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`step (B=${B}, T=${T}, V=${V}, ${JSON.stringify(sizes)}): median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)}, max ${times.at(-1).toFixed(1)}; ${((B * T) / median * 1000).toFixed(0)} tok/s`);
for (const t of trainer.tuning) console.log(`  tuned ${t.kernel}: ${t.times.map((x) => `${x.variant} ${x.ms} ms`).join(', ')} -> ${t.chosen}`);
for (const row of await trainer.profile(batch, Number(values.repeats))) console.log(`  ${row.ms.toFixed(1).padStart(8)} ms (min ${row.minMs.toFixed(1).padStart(5)})  ${row.kernel}`);
trainer.dispose();
model.dispose();
await releaseDevice();
