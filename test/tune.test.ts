/**
 * Tuning (runtime/tune.ts): with `tune`, the first run of a batch size and length class times the candidate
 * tiles of each kernel and keeps the fastest; what it computes stays the float64 reference's.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerFile } from '../compiler/frontend.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { compare } from '../runtime/compare.js';
import { Random } from '../runtime/init.js';
import { createModel, getDevice, releaseDevice } from '../runtime/index.js';
import { PlanRunner, planConstants } from '../runtime/plan-runner.js';
import { referenceForward } from '../runtime/reference.js';
import { tuneKernels } from '../runtime/tune.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

describe('tuning', () => {
  it('times the candidates of each kernel at the first run, keeps the fastest, and still equals the reference', async () => {
    const cell = loadExample('rnn');
    const sizes = { I: 12, H: 16 };
    const [T, B] = [6, 9];
    const random = new Random(3);
    const plans = buildTrainingPlans(cell, { kind: 'mse', output: 'h' });
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B, tune: true, training: { tune: true, optimizer: { kind: 'sgd', learningRate: 0.1 } } }, plans);
    try {
      expect(model.tuning).toEqual([]);
      const params = randomParams(cell, sizes, random);
      model.setParams(params);
      const inputs = randomInputs(cell, sizes, T, B, random);
      const check = async () => {
        const gpu = await model.forward(inputs);
        const ref = referenceForward(cell, { params, inputs, sizes, T, B });
        const c = compare(gpu.outputs['h']!, ref.outputs['h']!);
        expect(c.ok, `max abs ${c.maxAbs}`).toBe(true);
      };
      await check();
      const forward = model.tuning;
      expect(forward.length).toBeGreaterThan(0);
      // an estimate sure of the step loop (its two costs more than 2x apart) is not timed
      const costs = new PlanRunner(model.device, model.plan, sizes, {}).stepLoopCosts(B)!;
      expect(Math.max(costs.persistent, costs.stepped) / Math.min(costs.persistent, costs.stepped)).toBeGreaterThan(2);
      expect(forward.map((r) => r.kernel)).not.toContain('ElmanRNN/step loop');
      for (const row of forward) {
        expect(row.times.length, row.kernel).toBeGreaterThan(1);
        const fastest = row.times.reduce((a, b) => (b.ms < a.ms ? b : a));
        expect(row.chosen).toBe(fastest.variant);
      }
      // tuned once per batch size: a second run times nothing more
      await check();
      expect(model.tuning).toHaveLength(forward.length);
      const target = Float32Array.from({ length: T * B * 16 }, () => random.uniform() - 0.5);
      const first = await model.trainStep({ x: inputs['x']!, target });
      const second = await model.trainStep({ x: inputs['x']!, target });
      expect(Number.isFinite(first) && second < first).toBe(true);
      expect(model.tuning.length).toBeGreaterThan(forward.length);
    } finally {
      model.dispose();
    }
  });
});

describe('tuning the step loop', () => {
  it('times the persistent kernel against a dispatch per step, runs the faster, and still equals the reference', async () => {
    // the tagger's word LSTM (an embedding gathered by the step) at B = 16, where the estimate is unsure
    const cell = lowerFile(readFileSync('examples/tagger.seq', 'utf8'), 'examples/tagger.seq').cells.find((c) => c.name === 'WordLSTM')!;
    const sizes = Object.fromEntries(cell.sizes.map((s) => [s.name, s.default ?? 8]));
    const plan = buildLaunchPlan(cell);
    const [T, B] = [4, 16];
    const random = new Random(8);
    const model = await createModel(plan, { sizes, batch: B, tune: true });
    try {
      const params = randomParams(cell, sizes, random);
      model.setParams(params);
      const inputs = randomInputs(cell, sizes, T, B, random);
      const gpu = await model.forward(inputs);
      expect(model.tuning.some((r) => r.kernel === 'WordLSTM/step loop')).toBe(true);
      const ref = referenceForward(cell, { params, inputs, sizes, T, B });
      for (const [name, expected] of Object.entries(ref.outputs)) {
        const c = compare(gpu.outputs[name]!, expected);
        expect(c.ok, `${name}: max abs ${c.maxAbs}`).toBe(true);
      }
      // the same tuning on a runner of the model's constants (its pipelines cached): what runs is what was chosen
      const runner = new PlanRunner(model.device, plan, sizes, planConstants(plan, sizes, [...model.paramOffsets.values()].map((o) => o.offset), model.paramCount));
      // timed only where the estimate is unsure: its two costs within a factor of 2, as here
      const costs = runner.stepLoopCosts(B)!;
      expect(Math.max(costs.persistent, costs.stepped) / Math.min(costs.persistent, costs.stepped)).toBeLessThan(2);
      const rows = await tuneKernels(runner, T, B);
      const row = rows.find((r) => r.kernel === 'WordLSTM/step loop');
      expect(row, JSON.stringify(rows)).toBeDefined();
      expect(row!.times.map((t) => t.variant)).toEqual([expect.stringMatching(/^persistent /), 'a dispatch per step']);
      const fastest = row!.times.reduce((a, b) => (b.ms < a.ms ? b : a));
      expect(row!.chosen).toBe(fastest.variant);
      // the persistent kernel or the step kernels, not both, and every other kernel
      const runs = await runner.kernelsFor(B, T);
      const persistent = runs.some((k) => k.kernel.persistent);
      expect(persistent).toBe(row!.chosen.startsWith('persistent'));
      expect(runs.some((k) => k.kernel.phase === 'step' && !k.kernel.persistent)).toBe(!persistent);
      expect(runs.filter((k) => k.kernel.phase !== 'step').map((k) => k.kernel.label)).toEqual(plan.kernels.filter((k) => k.phase !== 'step').map((k) => k.label));
    } finally {
      model.dispose();
    }
  });
});

describe('the estimate', () => {
  it("chooses a kernel over all steps by the sequence's length: bigger row tiles for a long one", async () => {
    const { device } = await getDevice();
    const plan = buildLaunchPlan(loadExample('mingru'));
    const sizes = { I: 64, H: 128, O: 64 };
    const runner = new PlanRunner(device, plan, sizes, planConstants(plan, sizes, plan.params.map(() => 0), 0));
    const readout = plan.kernels.find((k) => k.phase === 'after')!;
    const rowsOf = (steps: number) => runner.rankedVariants(readout, 1, steps)[0]!.variant.rows;
    expect(rowsOf(1024)).toBeGreaterThan(rowsOf(8));
    const chosen = async (steps: number) => (await runner.kernelsFor(1, steps)).find((k) => k.kernel === readout)!.variant;
    expect(await chosen(1024)).toBe(runner.rankedVariants(readout, 1, 1024)[0]!.variant);
    expect(await chosen(8)).toBe(runner.rankedVariants(readout, 1, 8)[0]!.variant);
    // lengths rounding up to the same power of two share their kernels
    expect(await runner.kernelsFor(1, 600)).toBe(await runner.kernelsFor(1, 1000));
    // and what a long sequence runs still equals the reference
    const results = await gpuVersusReference(loadExample('mingru'), { T: 700, B: 1, sizes: { I: 5, H: 6, O: 4 } }, 29);
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max abs ${c.maxAbs}`).toBe(true);
  });
});
