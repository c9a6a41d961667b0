// A part-of-speech tagger trained on this machine: two bidirectional LSTM layers (64 units
// per direction) over word embeddings and a readout of the 12 universal tags, mapped from
// the Brown corpus's own tags (runtime/text/brown-tags.ts); every 10th sentence held out.
//
//   node bench/pos-tagger.mjs [--minutes 5] [--batch 32] [--lr 0.005] [--target 0.93] [--out DIR]
//
// Prints held-out token accuracy as training goes, and writes bench/results/pos-tagger.json
// (atomically): the curve, the time it first reached the target, the final accuracy.
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
import { LayeredModel } from '../dist/runtime/layered.js';
import { UNIVERSAL_TAGS, WordVocabulary, brownTagged } from '../dist/runtime/text/brown-tags.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' }, batch: { type: 'string', default: '32' }, lr: { type: 'string', default: '0.005' },
    target: { type: 'string', default: '0.93' }, out: { type: 'string', default: join(root, 'bench/results') }, 'eval-every': { type: 'string', default: '400' },
  },
});
const minutes = Number(values.minutes);
const B = Number(values.batch);
const target = Number(values.target);
const K = UNIVERSAL_TAGS.length;
const MAX_T = 48;

const { train, heldOut } = brownTagged();
const vocabulary = new WordVocabulary(train, 2);
const V = vocabulary.size;
/** sentences longer than MAX_T words are tagged in pieces */
const pieces = (sentences) => sentences.flatMap((s) => {
  const out = [];
  for (let i = 0; i < s.words.length; i += MAX_T) out.push({ words: s.words.slice(i, i + MAX_T), tags: s.tags.slice(i, i + MAX_T) });
  return out;
});
/** Batches of B sentences of similar length, padded to 24 or 48 steps. */
function batches(sentences, random) {
  const order = sentences.map((s, i) => [s.words.length + random.uniform(), i]).sort((a, b) => a[0] - b[0]).map(([, i]) => sentences[i]);
  const out = [];
  for (let i = 0; i + B <= order.length; i += B) {
    const group = order.slice(i, i + B);
    const T = Math.max(...group.map((s) => s.words.length)) <= 24 ? 24 : MAX_T;
    const x = new Int32Array(T * B);
    const labels = new Int32Array(T * B).fill(-1);
    const lengths = Int32Array.from(group, (s) => s.words.length);
    group.forEach((s, b) => s.words.forEach((w, t) => { x[t * B + b] = vocabulary.id(w); labels[t * B + b] = s.tags[t]; }));
    out.push({ T, x, labels, lengths });
  }
  return out;
}
const oneHot = ({ T, labels }) => {
  const y = new Float32Array(T * B * K);
  labels.forEach((k, i) => k >= 0 && (y[i * K + k] = 1));
  return y;
};

const source = readFileSync(join(root, 'examples/tagger.seq'), 'utf8');
const cell = (name) => withLengths(lowerSource(source, 'examples/tagger.seq', name));
const [first, second, head] = [cell('WordLSTM'), cell('LSTM'), cell('TagReadout')];
const H = 64;
const layer = (program, sizes, loss) => ({ plan: buildLaunchPlan(program), training: buildTrainingPlans(program, { kind: loss, output: program.outputs[0] }), sizes });
const lr = Number(values.lr);
const model = await LayeredModel.create(
  [{ ...layer(first, { V, E: 64, H }, 'cotangent'), bidirectional: true }, { ...layer(second, { I: 2 * H, H }, 'cotangent'), bidirectional: true }],
  layer(head, { I: 2 * H, K }, 'softmax-ce'),
  { batch: B, seed: 1, training: { optimizer: { kind: 'adam', learningRate: lr }, clipNorm: 5 } },
);
const random = new Random(7);
const evalBatches = batches(pieces(heldOut), new Random(0));
async function accuracy() {
  let right = 0;
  let total = 0;
  for (const b of evalBatches) {
    const logits = await model.forward(b.x, b.lengths);
    for (let i = 0; i < b.labels.length; i++) {
      if (b.labels[i] < 0) continue;
      let best = 0;
      for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + best]) best = k;
      right += best === b.labels[i] ? 1 : 0;
      total++;
    }
  }
  return { accuracy: right / total, tokens: total };
}

const device = await getDevice();
const started = performance.now();
const curve = [];
let reached = null;
let step = 0;
let epoch = 0;
let last;
const seconds = () => (performance.now() - started) / 1000;
console.log(`Brown POS: ${train.length} training sentences, ${heldOut.length} held out; ${V} word ids; ${K} universal tags; B=${B}, Adam lr ${lr}, ${minutes} min`);
outer: while (true) {
  epoch++;
  // batches of similar length, their order shuffled, then runs of 16 sorted by length so the step count changes rarely
  const list = batches(pieces(train), random).map((b) => [random.uniform(), b]).sort((a, b) => a[0] - b[0]).map(([, b]) => b);
  for (let i = 0; i < list.length; i += 16) list.splice(i, 16, ...list.slice(i, i + 16).sort((a, b) => a.T - b.T));
  for (const b of list) {
    if (seconds() > minutes * 60) break outer;
    const spent = Math.min(1, seconds() / (minutes * 60));
    await model.trainStep({ x: b.x, target: oneHot(b), lengths: b.lengths, learningRate: lr * (1 - 0.9 * spent) });
    step++;
    if (step % Number(values['eval-every']) === 0) {
      last = await accuracy();
      curve.push({ step, seconds: seconds(), accuracy: last.accuracy });
      if (reached === null && last.accuracy >= target) reached = { step, seconds: seconds() };
      console.log(`step ${step} (epoch ${epoch}, ${seconds().toFixed(0)} s): held-out accuracy ${(100 * last.accuracy).toFixed(2)}% of ${last.tokens} tokens`);
    }
  }
}
last = await accuracy();
curve.push({ step, seconds: seconds(), accuracy: last.accuracy });
if (reached === null && last.accuracy >= target) reached = { step, seconds: seconds() };
console.log(`final: ${step} steps, ${epoch} epochs begun, ${seconds().toFixed(0)} s: held-out accuracy ${(100 * last.accuracy).toFixed(2)}%${reached ? `; reached ${100 * target}% at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : `; below ${100 * target}%`}`);
const info = device.adapterInfo ?? {};
const result = {
  task: 'Brown corpus part-of-speech tagging, 12 universal tags, every 10th sentence held out',
  model: '2-layer bidirectional LSTM, 64 units per direction, 64-d word embeddings, per-word readout',
  adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description },
  config: { batch: B, lr, minutes, vocabulary: V, trainSentences: train.length, heldOutSentences: heldOut.length },
  heldOutTokens: last.tokens,
  finalAccuracy: last.accuracy,
  target,
  reached,
  curve,
};
mkdirSync(values.out, { recursive: true });
const file = join(values.out, 'pos-tagger.json');
writeFileSync(`${file}.tmp`, JSON.stringify(result, null, 1));
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
model.dispose();
await releaseDevice();
