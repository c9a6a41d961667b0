// An encoder-decoder with Bahdanau attention (examples/seq2seq.seq) trained on this machine
// to reverse digit strings (bench/reversal-task.mjs). The decoder starts from the encoder's
// final state and is fed the previous target token in training (teacher forcing), its own
// last choice when decoding greedily.
//
//   node bench/seq2seq.mjs [--minutes 10] [--batch 64] [--lr 0.005] [--target 0.95] [--eval-every 50] [--out DIR]
//
// Prints the held-out exact-match rate (the whole decoded string right) as training goes,
// stops at the target, and writes bench/results/seq2seq.json (atomically) with the curve
// and the time it first reached the target, and an SVG of one held-out example's alignment.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { withLengths } from '../dist/compiler/lengths.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { getDevice, releaseDevice } from '../dist/runtime/index.js';
import { Seq2Seq } from '../dist/runtime/seq2seq.js';
import { alignmentSvg } from '../dist/runtime/text/alignment-svg.js';
import { END, S, START, T, V, batchOf, heldOut, trainUntil } from './reversal-task.mjs';
import { writeAtomically } from './write-atomically.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' }, batch: { type: 'string', default: '64' }, lr: { type: 'string', default: '0.005' },
    target: { type: 'string', default: '0.95' }, 'eval-every': { type: 'string', default: '50' }, out: { type: 'string', default: join(root, 'bench/results') },
  },
});
const [minutes, B, lr, target] = [Number(values.minutes), Number(values.batch), Number(values.lr), Number(values.target)];

const file = 'examples/seq2seq.seq';
const text = readFileSync(join(root, file), 'utf8');
const encoderCell = withLengths(lowerSource(text, file, 'Encoder'));
const decoderCell = lowerSource(text, file, 'Decoder');
const part = (cell, loss, sizes) => ({ plan: buildLaunchPlan(cell), training: buildTrainingPlans(cell, { kind: loss, output: cell.outputs[0] }), sizes });
const model = await Seq2Seq.create(part(encoderCell, 'cotangent', { V, E: 16, H: 64 }), part(decoderCell, 'softmax-ce', { V, E: 16, H: 64, S }), { batch: B, seed: 1, training: { optimizer: { kind: 'adam', learningRate: lr }, clipNorm: 5 } });
const decode = async (b) => (await model.greedy(b.source, { start: START, end: END, maxSteps: T, sourceLengths: b.sourceLengths })).tokens;

const { description } = await getDevice();
console.log(`seq2seq with attention, reversing 3-9 digit strings: B=${B}, Adam lr ${lr}, ${minutes} min, ${heldOut.length} held-out strings`);
const run = await trainUntil({ model, B, minutes, target, evalEvery: Number(values['eval-every']), decode, learningRate: (_step, spent) => lr * (1 - 0.9 * spent) });

// one held-out example's alignment: rows are output steps, columns source digits
const shown = batchOf(heldOut.slice(0, B));
const decoded = await model.greedy(shown.source, { start: START, end: END, maxSteps: T, sourceLengths: shown.sourceLengths, alignment: 'alpha' });
const digits = heldOut[0];
const rows = Math.min(decoded.alignment.length, decoded.tokens[0].length + 1);
const weights = decoded.alignment.slice(0, rows).map((a) => Array.from(a.subarray(0, digits.length)));
const labels = [...decoded.tokens[0].map((t) => String(t - 3)), '<end>'].slice(0, rows);
mkdirSync(values.out, { recursive: true });
const svgPath = join(values.out, 'seq2seq-alignment.svg');
writeAtomically(svgPath, alignmentSvg(weights, { rows: labels, columns: digits.map(String), title: `alignment reversing ${digits.join('')}` }));

const path = join(values.out, 'seq2seq.json');
writeAtomically(path, `${JSON.stringify({ task: 'reverse 3-9 digit strings', model: file, adapter: description, batch: B, learningRate: lr, minutes, target, ...run, date: new Date().toISOString() }, null, 2)}\n`);
console.log(`results: ${path}; alignment: ${svgPath}`);
model.dispose();
releaseDevice();
