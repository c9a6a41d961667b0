/**
 * The transformer of examples/transformer.seq as runtime/transformer.ts chains it (one
 * encoder and one decoder layer here): every cell's parameter gradients equal float64
 * finite differences of the whole model's loss, computed by chaining the cells' float64
 * references the same way; and the causal mask holds: a decoder position's logits do not
 * change when later target tokens do; greedy decoding follows the reference's argmax.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import { relativeError } from '../compiler/gradcheck.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { Random } from '../runtime/init.js';
import { releaseDevice } from '../runtime/index.js';
import { causalSteps, memoryPerStep, validSteps } from '../runtime/memory.js';
import { referenceForward } from '../runtime/reference.js';
import { Transformer, sinusoidalPositions } from '../runtime/transformer.js';
import { expectFiniteDifferences } from './grad-helpers.js';

afterAll(releaseDevice);

const FILE = 'examples/transformer.seq';
const SOURCE = readFileSync(FILE, 'utf8');
const [V, K, S, P, F, B] = [6, 2, 3, 3, 4, 2];
const D = 2 * K;
const SIZES: Record<string, number> = { V, K, S, P, F };
const NAMES = ['Embed', 'Embed', 'EncoderLayer', 'DecoderLayer', 'Readout'] as const;
const cells = NAMES.map((name) => lowerSource(SOURCE, FILE, name));
const sizesOf = (i: number) => Object.fromEntries(cells[i]!.sizes.map((s) => [s.name, SIZES[s.name]!]));

async function createModel(): Promise<Transformer> {
  const part = (i: number, kind: 'cotangent' | 'softmax-ce') => ({ plan: buildLaunchPlan(cells[i]!), training: buildTrainingPlans(cells[i]!, { kind, output: cells[i]!.outputs[0]! }), sizes: sizesOf(i) });
  return Transformer.create(
    { sourceEmbedding: part(0, 'cotangent'), targetEmbedding: part(1, 'cotangent'), encoder: [part(2, 'cotangent')], decoder: [part(3, 'cotangent')], readout: part(4, 'softmax-ce') },
    { batch: B, seed: 1, training: { optimizer: { kind: 'sgd', learningRate: 0 } } },
  );
}

/** Fresh random weights in every cell of `model`, in the order of NAMES; returns them. */
function randomize(model: Transformer, random: Random): Record<string, Float32Array>[] {
  const models = [model.sourceEmbedding, model.targetEmbedding, model.encoder[0]!, model.decoder[0]!, model.readout];
  const params = cells.map((cell, i) => randomParams(cell, sizesOf(i), random));
  models.forEach((m, i) => m.setParams(params[i]!));
  return params;
}

const toFloat64 = (params: Record<string, Float32Array>) => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));

/** The readout's logits [P, B, V] in float64, each cell's reference fed as runtime/transformer.ts feeds the device. */
function referenceLogits(params: Record<string, Float64Array>[], source: Int32Array, lengths: Int32Array, previous: Int32Array): Float64Array {
  const run = (i: number, inputs: Record<string, Float64Array>, T: number) => Object.values(referenceForward(cells[i]!, { params: params[i]!, inputs, sizes: sizesOf(i), T, B, initialState: {} }).outputs)[0]!;
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const encoded0 = run(0, { x: Float64Array.from(source), pos: f64(sinusoidalPositions(S, B, D)) }, S);
  const encoded = run(2, { x: encoded0, X: memoryPerStep(encoded0, S, B, D, S), visible: f64(validSteps(lengths, S, B, S)) }, S);
  const decoded0 = run(1, { x: Float64Array.from(previous), pos: f64(sinusoidalPositions(P, B, D)) }, P);
  const decoded = run(3, { x: decoded0, Y: memoryPerStep(decoded0, P, B, D, P), causal: f64(causalSteps(P, B)), X: memoryPerStep(encoded, S, B, D, P), visible: f64(validSteps(lengths, S, B, P)) }, P);
  return run(4, { x: decoded }, P);
}

function meanCrossEntropy(logits: Float64Array, targets: Int32Array, mask: Float32Array): number {
  let total = 0;
  let count = 0;
  for (let r = 0; r < targets.length; r++) {
    if (!mask[r]) continue;
    const row = logits.subarray(r * V, (r + 1) * V);
    const max = Math.max(...row);
    total += max + Math.log(row.reduce((a, z) => a + Math.exp(z - max), 0)) - row[targets[r]!]!;
    count++;
  }
  return total / count;
}

describe('transformer encoder-decoder', () => {
  const random = new Random(23);
  const lengths = Int32Array.of(S, 2);
  const source = Int32Array.from({ length: S * B }, (_, i) => (Math.floor(i / B) < lengths[i % B]! ? 3 + Math.floor(random.uniform() * (V - 3)) : 0));
  const targets = Int32Array.from({ length: P * B }, () => 2 + Math.floor(random.uniform() * (V - 2)));
  const previous = Int32Array.from({ length: P * B }, (_, i) => (i < B ? 1 : targets[i - B]!));
  const mask = Float32Array.from({ length: P * B }, (_, i) => (i === P * B - 1 ? 0 : 1));
  const oneHot = new Float32Array(P * B * V);
  targets.forEach((k, i) => (oneHot[i * V + k] = 1));

  it('every cell\'s gradients equal float64 finite differences of the whole loss (relative 1e-3)', async () => {
    const model = await createModel();
    try {
      const params = randomize(model, random);
      const g = await model.gradients({ source, sourceLengths: lengths, previous, target: oneHot, mask });
      const f64 = params.map(toFloat64);
      const loss = () => meanCrossEntropy(referenceLogits(f64, source, lengths, previous), targets, mask);
      expect(relativeError(g.loss, loss())).toBeLessThan(1e-5);
      f64.forEach((tensors, c) => expectFiniteDifferences(tensors, g.params[c]!, loss, NAMES[c]!, 4));
      // the source embedding's gradient comes through the encoder and the decoder's cross-attention
      expect(Math.max(...g.params[0]!['Emb']!.map(Math.abs))).toBeGreaterThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it("greedy decoding takes the reference's most probable token at every position", async () => {
    const model = await createModel();
    try {
      const params = randomize(model, random);
      // an end token no position produces: every example decodes all P positions
      const tokens = await model.greedy(source, { start: 1, end: V + 1, sourceLengths: lengths });
      expect(tokens.map((t) => t.length)).toEqual([P, P]);
      const fed = new Int32Array(P * B);
      for (let b = 0; b < B; b++) for (let t = 0; t < P; t++) fed[t * B + b] = t === 0 ? 1 : tokens[b]![t - 1]!;
      const logits = referenceLogits(params.map(toFloat64), source, lengths, fed);
      for (let t = 0; t < P; t++) {
        for (let b = 0; b < B; b++) {
          const row = Array.from(logits.subarray((t * B + b) * V, (t * B + b + 1) * V));
          expect(tokens[b]![t], `position ${t}, example ${b}`).toBe(row.indexOf(Math.max(...row)));
        }
      }
    } finally {
      model.dispose();
    }
  });

  it("a decoder position's logits do not depend on later target tokens (the causal mask)", async () => {
    const model = await createModel();
    try {
      const logits = await model.forward({ source, sourceLengths: lengths, previous });
      const changed = Int32Array.from(previous, (id, i) => (i >= B ? 3 + ((id + 1) % (V - 3)) : id));
      const other = await model.forward({ source, sourceLengths: lengths, previous: changed });
      // position 0 reads only the start token; later positions read the changed tokens
      for (let i = 0; i < B * V; i++) expect(other[i]).toBeCloseTo(logits[i]!, 6);
      expect(Math.max(...other.map((v, i) => Math.abs(v - logits[i]!)))).toBeGreaterThan(1e-4);
    } finally {
      model.dispose();
    }
  });
});
