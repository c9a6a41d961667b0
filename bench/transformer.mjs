// A small transformer encoder-decoder (examples/transformer.seq, run by runtime/transformer.ts)
// trained on this machine to reverse digit strings (bench/reversal-task.mjs): 2 encoder and
// 2 decoder layers of width 64 (two heads of 32), sinusoidal positions, layer norm,
// residuals, teacher forcing; greedy decoding position by position.
//
//   node bench/transformer.mjs [--minutes 10] [--batch 64] [--lr 0.002] [--layers 2] [--target 0.95] [--eval-every 50] [--out DIR]
//
// Prints the held-out exact-match rate as training goes, stops at the target, and writes
// bench/results/transformer.json (atomically) with the curve and the time it reached it.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { getDevice, releaseDevice } from '../dist/runtime/index.js';
import { Transformer } from '../dist/runtime/transformer.js';
import { END, S, START, T, V, heldOut, trainUntil } from './reversal-task.mjs';
import { writeAtomically } from './write-atomically.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' }, batch: { type: 'string', default: '64' }, lr: { type: 'string', default: '0.002' }, layers: { type: 'string', default: '2' },
    target: { type: 'string', default: '0.95' }, 'eval-every': { type: 'string', default: '50' }, out: { type: 'string', default: join(root, 'bench/results') },
  },
});
const [minutes, B, lr, target, layers] = [Number(values.minutes), Number(values.batch), Number(values.lr), Number(values.target), Number(values.layers)];

const file = 'examples/transformer.seq';
const text = readFileSync(join(root, file), 'utf8');
const cell = (name) => lowerSource(text, file, name);
const sizes = { V, K: 32, S, P: T, F: 128 };
const part = (name, loss) => {
  const program = cell(name);
  const bound = Object.fromEntries(program.sizes.map((s) => [s.name, sizes[s.name]]));
  return { plan: buildLaunchPlan(program), training: buildTrainingPlans(program, { kind: loss, output: program.outputs[0] }), sizes: bound };
};
const model = await Transformer.create(
  {
    sourceEmbedding: part('Embed', 'cotangent'),
    targetEmbedding: part('Embed', 'cotangent'),
    encoder: Array.from({ length: layers }, () => part('EncoderLayer', 'cotangent')),
    decoder: Array.from({ length: layers }, () => part('DecoderLayer', 'cotangent')),
    readout: part('Readout', 'softmax-ce'),
  },
  { batch: B, seed: 1, training: { optimizer: { kind: 'adam', learningRate: lr }, clipNorm: 1 } },
);
const decode = (b) => model.greedy(b.source, { start: START, end: END, sourceLengths: b.sourceLengths });

const { description } = await getDevice();
console.log(`transformer (${layers}+${layers} layers, width 64, 2 heads), reversing 3-9 digit strings: B=${B}, Adam lr ${lr}, ${minutes} min, ${heldOut.length} held-out strings`);
// a short warm-up, then a linear decay to a tenth over the budget
const run = await trainUntil({ model, B, minutes, target, evalEvery: Number(values['eval-every']), decode, learningRate: (step, spent) => lr * Math.min(1, (step + 1) / 50) * (1 - 0.9 * spent) });
mkdirSync(values.out, { recursive: true });
const path = join(values.out, 'transformer.json');
writeAtomically(path, `${JSON.stringify({ task: 'reverse 3-9 digit strings', model: file, layers, adapter: description, batch: B, learningRate: lr, minutes, target, ...run, date: new Date().toISOString() }, null, 2)}\n`);
console.log(`results: ${path}`);
model.dispose();
releaseDevice();
