// A part-of-speech tagger trained on this machine: model Tagger of examples/tagger.seq, two
// bidirectional LSTM layers (64 units per direction) over word embeddings and a readout of
// the 12 universal tags, mapped from the Brown corpus's own tags (runtime/text/brown-tags.ts);
// every 10th sentence held out.
// With --task genre the same model is a many-to-one classifier: the readout at each
// sentence's last word gives its document's genre (15 categories, CONTENTS), and only that
// step counts in the loss.
//
//   node bench/pos-tagger.mjs [--task tags|genre] [--minutes 5] [--batch 32] [--lr 0.005] [--target 0.93] [--out DIR]
//
// Prints held-out accuracy (of tokens, or of sentences) as training goes, and writes
// bench/results/pos-tagger.json or brown-genre.json (atomically): the curve, the time it
// first reached the target, the final accuracy.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { layeredModelFromSource } from '../dist/compiler/layered-from-source.js';
import { Random } from '../dist/runtime/init.js';
import { getDevice, releaseDevice } from '../dist/runtime/index.js';
import { BROWN_GENRES } from '../dist/runtime/text/brown.js';
import { UNIVERSAL_TAGS, WordVocabulary, brownTagged } from '../dist/runtime/text/brown-tags.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'tags' }, minutes: { type: 'string', default: '5' }, batch: { type: 'string', default: '32' }, lr: { type: 'string', default: '0.005' },
    target: { type: 'string' }, out: { type: 'string', default: join(root, 'bench/results') }, 'eval-every': { type: 'string', default: '400' },
  },
});
const minutes = Number(values.minutes);
const B = Number(values.batch);
const genre = values.task === 'genre';
if (!genre && values.task !== 'tags') throw new Error(`--task ${values.task}: expected tags or genre`);
const GENRES = Object.keys(BROWN_GENRES);
const K = genre ? GENRES.length : UNIVERSAL_TAGS.length;
// the tagger's acceptance is 93% of held-out tokens; the genre has no target unless given
const target = Number(values.target ?? (genre ? Number.NaN : 0.93));
const MAX_T = 48;

const tagged = brownTagged();
// for the genre, a sentence's label sits at its last word alone (-1: no label)
const relabel = (sentences) => (genre ? sentences.map((s) => ({ ...s, tags: s.words.map((_, i) => (i === s.words.length - 1 ? GENRES.indexOf(s.category) : -1)) })) : sentences);
const [train, heldOut] = [relabel(tagged.train), relabel(tagged.heldOut)];
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
const labelled = ({ labels }) => Float32Array.from(labels, (k) => (k >= 0 ? 1 : 0));
const oneHot = ({ T, labels }) => {
  const y = new Float32Array(T * B * K);
  labels.forEach((k, i) => k >= 0 && (y[i * K + k] = 1));
  return y;
};

// the model Tagger of examples/tagger.seq: its layers, their sizes and the loss come from there
const source = readFileSync(join(root, 'examples/tagger.seq'), 'utf8');
const lr = Number(values.lr);
const model = await layeredModelFromSource(source, 'examples/tagger.seq', {
  sizes: { V, E: 64, H: 64, K },
  batch: B, seed: 1, training: { optimizer: { kind: 'adam', learningRate: lr }, clipNorm: 5 },
});
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

const { adapter, description } = await getDevice();
const started = performance.now();
const curve = [];
let reached = null;
let step = 0;
let epoch = 0;
let last;
const seconds = () => (performance.now() - started) / 1000;
console.log(`Brown ${genre ? 'genre' : 'POS'}: ${train.length} training sentences, ${heldOut.length} held out; ${V} word ids; ${K} ${genre ? 'genres' : 'universal tags'}; B=${B}, Adam lr ${lr}, ${minutes} min`);
if (genre) {
  // the baseline: always the most frequent genre of the training sentences
  const counts = GENRES.map((g) => train.filter((s) => s.category === g).length);
  const top = GENRES[counts.indexOf(Math.max(...counts))];
  console.log(`most frequent genre (${top}) on held-out sentences: ${(100 * heldOut.filter((s) => s.category === top).length / heldOut.length).toFixed(2)}%`);
}
outer: while (true) {
  epoch++;
  // batches of similar length, their order shuffled, then runs of 16 sorted by length so the step count changes rarely
  const list = batches(pieces(train), random).map((b) => [random.uniform(), b]).sort((a, b) => a[0] - b[0]).map(([, b]) => b);
  for (let i = 0; i < list.length; i += 16) list.splice(i, 16, ...list.slice(i, i + 16).sort((a, b) => a.T - b.T));
  for (const b of list) {
    if (seconds() > minutes * 60) break outer;
    const spent = Math.min(1, seconds() / (minutes * 60));
    await model.trainStep({ x: b.x, target: oneHot(b), lengths: b.lengths, ...(genre ? { mask: labelled(b) } : {}), learningRate: lr * (1 - 0.9 * spent) });
    step++;
    if (step % Number(values['eval-every']) === 0) {
      last = await accuracy();
      curve.push({ step, seconds: seconds(), accuracy: last.accuracy });
      if (reached === null && last.accuracy >= target) reached = { step, seconds: seconds() };
      console.log(`step ${step} (epoch ${epoch}, ${seconds().toFixed(0)} s): held-out accuracy ${(100 * last.accuracy).toFixed(2)}% of ${last.tokens} ${genre ? 'sentence pieces' : 'tokens'}`);
    }
  }
}
last = await accuracy();
curve.push({ step, seconds: seconds(), accuracy: last.accuracy });
if (reached === null && last.accuracy >= target) reached = { step, seconds: seconds() };
console.log(`final: ${step} steps, ${epoch} epochs begun, ${seconds().toFixed(0)} s: held-out accuracy ${(100 * last.accuracy).toFixed(2)}%${reached ? `; reached ${100 * target}% at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : Number.isNaN(target) ? '' : `; below ${100 * target}%`}`);
const info = adapter.info ?? {};
const result = {
  task: genre
    ? 'Brown corpus genre of a sentence (15 categories) from the readout at its last word, every 10th sentence held out'
    : 'Brown corpus part-of-speech tagging, 12 universal tags, every 10th sentence held out',
  model: `2-layer bidirectional LSTM, 64 units per direction, 64-d word embeddings, ${genre ? 'readout at the last word' : 'per-word readout'}`,
  adapter: { description, vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '' },
  config: { batch: B, lr, minutes, vocabulary: V, trainSentences: train.length, heldOutSentences: heldOut.length },
  heldOutTokens: last.tokens,
  finalAccuracy: last.accuracy,
  target: Number.isNaN(target) ? null : target,
  reached,
  curve,
};
mkdirSync(values.out, { recursive: true });
const file = join(values.out, genre ? 'brown-genre.json' : 'pos-tagger.json');
writeFileSync(`${file}.tmp`, JSON.stringify(result, null, 1));
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
model.dispose();
await releaseDevice();
