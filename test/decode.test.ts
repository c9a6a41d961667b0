/**
 * Decoding on the device (runtime/decode.ts): beam search of width 1 is greedy decoding, a
 * wider beam finds a more probable sequence than greedy on a constructed case, and sampling
 * is reproducible from its seed and greedy at top-k = 1; generation starts from a given state.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomParams } from '../compiler/random-data.js';
import { beamSearch, greedyDecode, sampleDecode } from '../runtime/decode.js';
import { Random } from '../runtime/init.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { referenceForward } from '../runtime/reference.js';
import { loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

// ids of the constructed bigram model
const [S, A, B, C, END] = [0, 1, 2, 3, 4];

/**
 * p(next | previous): from S, A is likelier than B, but after A every continuation is
 * unlikely, while B is almost surely followed by the end: greedy takes A and wanders, a beam
 * keeps B and finds S B END, the most probable sequence.
 */
const TABLE: Record<number, Record<number, number>> = {
  [S]: { [A]: 0.55, [B]: 0.45 },
  [A]: { [A]: 0.34, [C]: 0.33, [END]: 0.33 },
  [B]: { [END]: 0.9, [C]: 0.1 },
  [C]: { [END]: 1 },
  [END]: { [END]: 1 },
};

async function bigramModel() {
  const cell = lowerSource('cell Bigram(x: onehot[V]) -> y {\n  param W: [V, V] = zeros\n  y[t] = W @ x[t]\n}\n', 'bigram.seq');
  const model = await createModel(buildLaunchPlan(cell), { sizes: { V: 5 }, batch: 1 });
  const W = new Float32Array(25).fill(-40);
  for (const [previous, row] of Object.entries(TABLE)) for (const [next, p] of Object.entries(row)) W[Number(next) * 5 + Number(previous)] = Math.log(p);
  model.setParams({ W });
  return model;
}

describe('beam search', () => {
  it('width 4 finds a more probable sequence than greedy on a constructed case', async () => {
    const model = await bigramModel();
    try {
      const options = { prime: [S], maxLength: 6, end: END };
      const greedy = await greedyDecode(model, options);
      expect(greedy.ids).toEqual([A, A, A, A, A, A]);
      expect(greedy.ended).toBe(false);
      expect(greedy.logProb).toBeCloseTo(Math.log(0.55) + 5 * Math.log(0.34), 4);
      const [best, ...rest] = await beamSearch(model, { ...options, width: 4 });
      expect(best!.ids).toEqual([B, END]);
      expect(best!.ended).toBe(true);
      expect(best!.logProb).toBeCloseTo(Math.log(0.45 * 0.9), 5);
      expect(best!.logProb).toBeGreaterThan(greedy.logProb + 4);
      // results come best score first, and length normalization ranks them: logProb / length
      for (const r of rest) expect(r.score).toBeLessThanOrEqual(best!.score);
      expect(best!.score).toBeCloseTo(best!.logProb / 2, 12);
      const [narrow] = await beamSearch(model, { ...options, width: 1 });
      expect(narrow!.ids).toEqual(greedy.ids);
    } finally {
      model.dispose();
    }
  });

  it('width 1 equals greedy decoding on a random character model, with and without an end id', async () => {
    const cell = loadExample('charlm');
    const sizes = { V: 11, E: 4, H: 8 };
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: 1 });
    try {
      const params = randomParams(cell, sizes, new Random(3));
      // sharper logits, so the choices are not near-ties
      params.Wy = params.Wy!.map((w) => 8 * w);
      model.setParams(params);
      const options = { prime: [1, 5, 2], maxLength: 12, banned: [0] };
      const greedy = await greedyDecode(model, options);
      const [beam] = await beamSearch(model, { ...options, width: 1 });
      expect(beam!.ids).toEqual(greedy.ids);
      expect(beam!.logProb).toBe(greedy.logProb);
      expect(greedy.ids).not.toContain(0);
      const end = greedy.ids[3]!;
      const stopped = await greedyDecode(model, { ...options, end });
      expect(stopped.ended).toBe(true);
      expect(stopped.ids).toEqual(greedy.ids.slice(0, greedy.ids.indexOf(end) + 1));
      const [beamStopped] = await beamSearch(model, { ...options, end, width: 1 });
      expect(beamStopped!.ids).toEqual(stopped.ids);
      // a wider beam never ranks its best below the greedy sequence's own score
      const [wide] = await beamSearch(model, { ...options, end, width: 4, alpha: 0 });
      expect(wide!.logProb).toBeGreaterThanOrEqual(stopped.logProb - 1e-9);
    } finally {
      model.dispose();
    }
  });
});

describe('generation from a start vector (one-to-many)', () => {
  it("greedy decoding from a given state follows the float64 reference's argmax, and the state matters", async () => {
    const cell = loadExample('charlm');
    const sizes = { V: 11, E: 4, H: 8 };
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: 1 });
    try {
      const random = new Random(5);
      const params = randomParams(cell, sizes, random);
      params.Wy = params.Wy!.map((w) => 8 * w);
      model.setParams(params);
      const start = (scale: number) => ({ h: Float32Array.from({ length: 8 }, () => scale * (random.uniform() - 0.5)), c: Float32Array.from({ length: 8 }, () => scale * (random.uniform() - 0.5)) });
      const [first, second] = [start(4), start(4)];
      const options = { prime: [1], maxLength: 8, banned: [0] };
      const a = await greedyDecode(model, { ...options, initialState: first });
      const b = await greedyDecode(model, { ...options, initialState: second });
      expect(a.ids).not.toEqual(b.ids);
      // the reference from the same state, fed the prime and then each chosen id, picks each of them
      const fed = [1, ...a.ids.slice(0, -1)];
      const ref = referenceForward(cell, { params, sizes, T: fed.length, B: 1, inputs: { x: Float64Array.from(fed) }, initialState: { h: Float64Array.from(first.h), c: Float64Array.from(first.c) } });
      const logits = ref.outputs['y']!;
      a.ids.forEach((id, t) => {
        const row = Array.from(logits.subarray(t * 11 + 1, (t + 1) * 11));
        expect(id, `step ${t}`).toBe(1 + row.indexOf(Math.max(...row)));
      });
    } finally {
      model.dispose();
    }
  });
});

describe('sampling', () => {
  it('is reproducible from its seed, greedy at top-k 1, and checks its options', async () => {
    const model = await bigramModel();
    try {
      const options = { prime: [S], maxLength: 5, end: END };
      const first = await sampleDecode(model, { ...options, seed: 9, temperature: 1.5 });
      expect(await sampleDecode(model, { ...options, seed: 9, temperature: 1.5 })).toEqual(first);
      expect((await sampleDecode(model, { ...options, topK: 1, seed: 4 })).ids).toEqual((await greedyDecode(model, options)).ids);
      // top-k 2 from S draws A or B only, and over many seeds both
      const firsts = new Set<number>();
      for (let seed = 0; seed < 24; seed++) firsts.add((await sampleDecode(model, { ...options, maxLength: 1, topK: 2, seed })).ids[0]!);
      expect([...firsts].sort()).toEqual([A, B]);
      await expect(sampleDecode(model, { ...options, temperature: 0 })).rejects.toThrow(/temperature must be positive/);
      await expect(beamSearch(model, { ...options, width: 0 })).rejects.toThrow(/beam width/);
    } finally {
      model.dispose();
    }
  });
});
