/**
 * The encoder-decoder of examples/seq2seq.seq as runtime/seq2seq.ts chains it: its
 * gradients for both cells equal float64 finite differences of the whole model's loss (the
 * encoder's reach it through the memory at every decoder step and through the decoder's
 * initial state); greedy decoding picks, at every step, the reference's most probable token.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import { relativeError } from '../compiler/gradcheck.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { withLengths } from '../compiler/lengths.js';
import { randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { Random } from '../runtime/init.js';
import { releaseDevice } from '../runtime/index.js';
import { validMask } from '../runtime/lengths.js';
import { referenceForward } from '../runtime/reference.js';
import { Seq2Seq } from '../runtime/seq2seq.js';
import { expectFiniteDifferences } from './grad-helpers.js';

afterAll(releaseDevice);

const FILE = 'examples/seq2seq.seq';
const SOURCE = readFileSync(FILE, 'utf8');
const encoderCell = withLengths(lowerSource(SOURCE, FILE, 'Encoder'));
const decoderCell = lowerSource(SOURCE, FILE, 'Decoder');
const [V, E, H, S, T, B] = [7, 4, 5, 4, 3, 3];
const ENCODER_SIZES = { V, E, H };
const DECODER_SIZES = { V, E, H, S };
const START = 1;

async function createModel(seed: number): Promise<Seq2Seq> {
  const part = (cell: CellProgram, kind: 'cotangent' | 'softmax-ce', sizes: Record<string, number>) => ({ plan: buildLaunchPlan(cell), training: buildTrainingPlans(cell, { kind, output: cell.outputs[0]! }), sizes });
  return Seq2Seq.create(part(encoderCell, 'cotangent', ENCODER_SIZES), part(decoderCell, 'softmax-ce', DECODER_SIZES), { batch: B, seed, training: { optimizer: { kind: 'sgd', learningRate: 0 } } });
}

/** Fresh random weights in both cells of `model`; returns them. */
function randomize(model: Seq2Seq, random: Random): { encoder: Record<string, Float32Array>; decoder: Record<string, Float32Array> } {
  const encoder = randomParams(encoderCell, ENCODER_SIZES, random);
  const decoder = randomParams(decoderCell, DECODER_SIZES, random);
  model.encoder.setParams(encoder);
  model.decoder.setParams(decoder);
  return { encoder, decoder };
}

const f64 = (params: Record<string, Float32Array>) => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));

/** The decoder's logits [T, B, V] in float64: the encoder over the sources, its memory at every step, its final state first. */
function referenceLogits(encoder: Record<string, Float64Array>, decoder: Record<string, Float64Array>, source: Int32Array, lengths: Int32Array, previous: Int32Array, steps: number): Float64Array {
  const enc = referenceForward(encoderCell, {
    params: encoder, sizes: ENCODER_SIZES, T: S, B,
    inputs: { x: Float64Array.from(source), __valid: Float64Array.from(validMask(lengths, S, B)) },
    initialState: { h: new Float64Array(B * H) },
  });
  const memory = enc.outputs['memory']!;
  const M = 2 * H;
  const rows = new Float64Array(steps * B * S * M);
  const valid = new Float64Array(steps * B * S);
  const final = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    final.set(memory.subarray(((lengths[b]! - 1) * B + b) * M, ((lengths[b]! - 1) * B + b) * M + H), b * H);
    for (let t = 0; t < steps; t++) {
      for (let s = 0; s < S; s++) {
        rows.set(memory.subarray((s * B + b) * M, (s * B + b + 1) * M), ((t * B + b) * S + s) * M);
        valid[(t * B + b) * S + s] = s < lengths[b]! ? 1 : 0;
      }
    }
  }
  const dec = referenceForward(decoderCell, { params: decoder, sizes: DECODER_SIZES, T: steps, B, inputs: { y: Float64Array.from(previous), memory: rows, valid }, initialState: { s: final } });
  return dec.outputs['logits']!;
}

function meanCrossEntropy(logits: Float64Array, targets: Int32Array): number {
  let total = 0;
  for (let r = 0; r < targets.length; r++) {
    const row = logits.subarray(r * V, (r + 1) * V);
    const max = Math.max(...row);
    total += max + Math.log(row.reduce((a, z) => a + Math.exp(z - max), 0)) - row[targets[r]!]!;
  }
  return total / targets.length;
}

describe('encoder-decoder with attention', () => {
  const random = new Random(17);
  const lengths = Int32Array.of(S, 2, 3);
  const source = Int32Array.from({ length: S * B }, (_, i) => (Math.floor(i / B) < lengths[i % B]! ? 3 + Math.floor(random.uniform() * (V - 3)) : 0));
  const targets = Int32Array.from({ length: T * B }, () => 2 + Math.floor(random.uniform() * (V - 2)));
  const previous = Int32Array.from({ length: T * B }, (_, i) => (i < B ? START : targets[i - B]!));
  const oneHot = new Float32Array(T * B * V);
  targets.forEach((k, i) => (oneHot[i * V + k] = 1));

  it('gradients of both cells equal float64 finite differences of the whole loss (relative 1e-3)', async () => {
    const model = await createModel(3);
    try {
      const { encoder, decoder } = randomize(model, random);
      const g = await model.gradients({ source, sourceLengths: lengths, previous, target: oneHot });
      const [enc64, dec64] = [f64(encoder), f64(decoder)];
      const loss = () => meanCrossEntropy(referenceLogits(enc64, dec64, source, lengths, previous, T), targets);
      expect(relativeError(g.loss, loss())).toBeLessThan(1e-5);
      expectFiniteDifferences(enc64, g.encoder, loss, 'encoder', 8);
      expectFiniteDifferences(dec64, g.decoder, loss, 'decoder', 8);
      // the encoder's gradient is not vacuous: the decoder reads it through the memory and the initial state
      expect(Math.max(...g.encoder['Ua']!.map(Math.abs))).toBeGreaterThan(1e-4);
      expect(Math.max(...g.encoder['U']!.map(Math.abs))).toBeGreaterThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it("greedy decoding takes the reference's most probable token at every step", async () => {
    const model = await createModel(5);
    try {
      const { encoder, decoder } = randomize(model, random);
      // an end token no sequence produces: every example decodes all its steps
      const steps = 4;
      const { tokens, alignment } = await model.greedy(source, { start: START, end: V + 1, maxSteps: steps, sourceLengths: lengths, alignment: 'alpha' });
      expect(tokens.map((t) => t.length)).toEqual([steps, steps, steps]);
      expect(alignment).toHaveLength(steps);
      const fed = new Int32Array(steps * B);
      for (let b = 0; b < B; b++) for (let t = 0; t < steps; t++) fed[t * B + b] = t === 0 ? START : tokens[b]![t - 1]!;
      const logits = referenceLogits(f64(encoder), f64(decoder), source, lengths, fed, steps);
      for (let t = 0; t < steps; t++) {
        for (let b = 0; b < B; b++) {
          const row = Array.from(logits.subarray((t * B + b) * V, (t * B + b + 1) * V));
          expect(tokens[b]![t], `step ${t}, example ${b}`).toBe(row.indexOf(Math.max(...row)));
          // attention only on the example's valid source steps
          const alpha = alignment[t]!.subarray(b * S, (b + 1) * S);
          alpha.forEach((a, s) => s >= lengths[b]! && expect(a).toBe(0));
        }
      }
    } finally {
      model.dispose();
    }
  });
});
