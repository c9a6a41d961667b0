// An encoder-decoder with Bahdanau attention (examples/seq2seq.seq) trained on this machine
// to reverse digit strings: the source is 3 to 9 random digits, the target the same digits
// reversed, then <end>. Sources are padded to 10 steps (the decoder masks the padding), the
// decoder starts from the encoder's final state and is fed the previous target token in
// training (teacher forcing), its own last choice when decoding greedily. 1024 strings are
// held out: training never draws them.
//
//   node bench/seq2seq.mjs [--minutes 10] [--batch 64] [--lr 0.005] [--target 0.95] [--eval-every 200] [--out DIR]
//
// Prints the held-out exact-match rate (the whole decoded string equal to the reversed
// source) as training goes, writes bench/results/seq2seq.json (atomically) with the curve,
// the time it first reached the target and the final rate, and an SVG of one held-out
// example's alignment.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { withLengths } from '../dist/compiler/lengths.js';
import { buildTrainingPlans } from '../dist/compiler/training.js';
import { Random } from '../dist/runtime/init.js';
import { getDevice, releaseDevice } from '../dist/runtime/index.js';
import { Seq2Seq } from '../dist/runtime/seq2seq.js';
import { alignmentSvg } from '../dist/runtime/text/alignment-svg.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' }, batch: { type: 'string', default: '64' }, lr: { type: 'string', default: '0.005' },
    target: { type: 'string', default: '0.95' }, 'eval-every': { type: 'string', default: '200' }, out: { type: 'string', default: join(root, 'bench/results') },
  },
});
const minutes = Number(values.minutes);
const B = Number(values.batch);
const lr = Number(values.lr);
const target = Number(values.target);

// tokens: 0 padding, 1 start, 2 end, 3 + d the digit d
const [PAD, START, END] = [0, 1, 2];
const V = 13;
const S = 10;
const T = 10;
const MIN_DIGITS = 3;
const MAX_DIGITS = 9;
const digitsOf = (random) => Array.from({ length: MIN_DIGITS + Math.floor(random.uniform() * (MAX_DIGITS - MIN_DIGITS + 1)) }, () => Math.floor(random.uniform() * 10));
const heldOutRandom = new Random(99);
const heldOut = [];
const heldOutKeys = new Set();
while (heldOut.length < 1024) {
  const digits = digitsOf(heldOutRandom);
  if (heldOutKeys.has(digits.join(''))) continue;
  heldOutKeys.add(digits.join(''));
  heldOut.push(digits);
}

/** A batch of B digit strings in the layouts the model takes: [S, B] source, [T, B] previous tokens, targets and mask. */
function batchOf(strings) {
  const source = new Int32Array(S * B).fill(PAD);
  const previous = new Int32Array(T * B).fill(PAD);
  const targetIds = new Int32Array(T * B).fill(PAD);
  const mask = new Float32Array(T * B);
  const sourceLengths = Int32Array.from(strings, (d) => d.length);
  strings.forEach((digits, b) => {
    digits.forEach((d, s) => (source[s * B + b] = 3 + d));
    const out = [...digits].reverse().map((d) => 3 + d).concat(END);
    out.forEach((token, t) => {
      targetIds[t * B + b] = token;
      previous[t * B + b] = t === 0 ? START : out[t - 1];
      mask[t * B + b] = 1;
    });
  });
  const oneHot = new Float32Array(T * B * V);
  targetIds.forEach((token, i) => mask[i] && (oneHot[i * V + token] = 1));
  return { source, sourceLengths, previous, target: oneHot, mask };
}

const file = 'examples/seq2seq.seq';
const text = readFileSync(join(root, file), 'utf8');
const encoderCell = withLengths(lowerSource(text, file, 'Encoder'));
const decoderCell = lowerSource(text, file, 'Decoder');
const part = (cell, loss, sizes) => ({ plan: buildLaunchPlan(cell), training: buildTrainingPlans(cell, { kind: loss, output: cell.outputs[0] }), sizes });
const model = await Seq2Seq.create(part(encoderCell, 'cotangent', { V, E: 16, H: 64 }), part(decoderCell, 'softmax-ce', { V, E: 16, H: 64, S }), { batch: B, seed: 1, training: { optimizer: { kind: 'adam', learningRate: lr }, clipNorm: 5 } });

async function exactMatch() {
  let right = 0;
  for (let i = 0; i + B <= heldOut.length; i += B) {
    const group = heldOut.slice(i, i + B);
    const b = batchOf(group);
    const { tokens } = await model.greedy(b.source, { start: START, end: END, maxSteps: T, sourceLengths: b.sourceLengths });
    group.forEach((digits, k) => (right += tokens[k].join(',') === [...digits].reverse().map((d) => 3 + d).join(',') ? 1 : 0));
  }
  return right / (Math.floor(heldOut.length / B) * B);
}

const { description } = await getDevice();
const random = new Random(7);
const started = performance.now();
const seconds = () => (performance.now() - started) / 1000;
const curve = [];
let reached = null;
let step = 0;
let last = 0;
console.log(`seq2seq with attention, reversing 3-9 digit strings: B=${B}, Adam lr ${lr}, ${minutes} min, ${heldOut.length} held-out strings`);
while (seconds() < minutes * 60) {
  const strings = [];
  while (strings.length < B) {
    const digits = digitsOf(random);
    if (!heldOutKeys.has(digits.join(''))) strings.push(digits);
  }
  const loss = await model.trainStep({ ...batchOf(strings), learningRate: lr * (1 - 0.9 * Math.min(1, seconds() / (minutes * 60))) });
  step++;
  if (step % Number(values['eval-every']) === 0) {
    last = await exactMatch();
    curve.push({ step, seconds: seconds(), loss, exactMatch: last });
    console.log(`step ${step} (${seconds().toFixed(0)} s): loss ${loss.toFixed(4)}, held-out exact match ${(100 * last).toFixed(2)}%`);
    if (reached === null && last >= target) {
      reached = { step, seconds: seconds() };
      break;
    }
  }
}
last = await exactMatch();

// one held-out example's alignment: rows are output steps, columns source digits
const example = heldOut.slice(0, B);
const shown = batchOf(example);
const decoded = await model.greedy(shown.source, { start: START, end: END, maxSteps: T, sourceLengths: shown.sourceLengths, alignment: 'alpha' });
const digits = example[0];
const rows = decoded.tokens[0].length + 1;
const weights = decoded.alignment.slice(0, rows).map((a) => Array.from(a.subarray(0, digits.length)));
const outputLabels = [...decoded.tokens[0].map((t) => String(t - 3)), '<end>'];
mkdirSync(values.out, { recursive: true });
const svgPath = join(values.out, 'seq2seq-alignment.svg');
writeFileSync(`${svgPath}.tmp`, alignmentSvg(weights, { rows: outputLabels.slice(0, weights.length), columns: digits.map(String), title: `alignment reversing ${digits.join('')}` }));
renameSync(`${svgPath}.tmp`, svgPath);

const result = {
  task: 'reverse 3-9 digit strings', model: file, adapter: description, batch: B, learningRate: lr, minutes,
  steps: step, seconds: seconds(), target, reached, finalExactMatch: last, curve, date: new Date().toISOString(),
};
const path = join(values.out, 'seq2seq.json');
writeFileSync(`${path}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
renameSync(`${path}.tmp`, path);
console.log(`final held-out exact match ${(100 * last).toFixed(2)}% after ${step} steps, ${seconds().toFixed(0)} s${reached ? `; reached ${100 * target}% at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : `; did not reach ${100 * target}%`}`);
console.log(`results: ${path}; alignment: ${svgPath}`);
model.dispose();
releaseDevice();
