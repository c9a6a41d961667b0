/**
 * stepLoop: the step loop forced to the persistent kernel or to a dispatch per step, whatever
 * the runtime would choose; the same numbers either way, and a clear error where the plan has
 * no persistent kernel.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerFile } from '../compiler/frontend.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { compare } from '../runtime/compare.js';
import { Random } from '../runtime/init.js';
import { ScheduleError, createModel, releaseDevice } from '../runtime/index.js';
import type { StepLoop } from '../runtime/plan-runner.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';
import { loadExample } from './gpu-helpers.js';
import { runSeqc } from './run-seqc.js';

afterAll(releaseDevice);

/** The kernels a forward ran, by phase, read off its profile. */
async function ranKernels(model: Awaited<ReturnType<typeof createModel>>, x: Float32Array): Promise<string[]> {
  const rows = await model.profile(x, undefined, { repeats: 1 });
  return rows.slice(1).map((r) => r.kernel.replace(/ \(.*\)$/, ''));
}

describe('stepLoop', () => {
  // B=1 persists by the estimate, B=24 steps: each forced the other way too
  it.each([1, 24])('forces the persistent kernel or the step kernels at B=%i, and both equal the float64 reference', async (B) => {
    const cell = loadExample('gru');
    const sizes = { I: 12, H: 16 };
    const T = 5;
    const random = new Random(11);
    const params = randomParams(cell, sizes, random);
    const inputs = randomInputs(cell, sizes, T, B, random);
    const ref = referenceForward(cell, { params, inputs, sizes, T, B });
    const plan = buildLaunchPlan(cell);
    for (const stepLoop of ['persistent', 'stepped'] as StepLoop[]) {
      const model = await createModel(plan, { sizes, batch: B, stepLoop });
      try {
        model.setParams(params);
        const gpu = await model.forward(inputs);
        const c = compare(gpu.outputs['h']!, ref.outputs['h']!);
        expect(c.ok, `${stepLoop}: max abs ${c.maxAbs}`).toBe(true);
        const ran = await ranKernels(model, inputs['x']!);
        if (stepLoop === 'persistent') expect(ran).toEqual(['GRU/hoisted0#0', 'GRU/persistent#3']);
        else expect(ran).toEqual(['GRU/hoisted0#0', 'GRU/step0#1', 'GRU/step1#2']);
      } finally {
        model.dispose();
      }
    }
  });

  it('applies to training: the same loss and gradients with the backward persistent or stepped', async () => {
    const cell = loadExample('rnn');
    const sizes = { I: 6, H: 8 };
    const [T, B] = [4, 3];
    const random = new Random(5);
    const params = randomParams(cell, sizes, random);
    const x = randomInputs(cell, sizes, T, B, random)['x']!;
    const target = Float32Array.from({ length: T * B * 8 }, () => random.uniform() - 0.5);
    const plans = buildTrainingPlans(cell, { kind: 'mse', output: 'h' });
    const results = [];
    for (const stepLoop of ['persistent', 'stepped'] as StepLoop[]) {
      const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B });
      const trainer = await Trainer.create(model, plans, { stepLoop, optimizer: { kind: 'sgd', learningRate: 0.1 } });
      try {
        model.setParams(params);
        results.push(await trainer.gradients({ x, target }));
        // the forward's and the backward's loops both ran as asked
        const ran = (await trainer.profile({ x, target }, 1)).slice(1).map((r) => r.kernel);
        expect(ran.filter((k) => /persistent/.test(k)), stepLoop).toHaveLength(stepLoop === 'persistent' ? 2 : 0);
        expect(ran.some((k) => /\/step\d+#/.test(k)), stepLoop).toBe(stepLoop === 'stepped');
      } finally {
        trainer.dispose();
        model.dispose();
      }
    }
    const [persistent, stepped] = results as [(typeof results)[0], (typeof results)[0]];
    expect(Math.abs(persistent.loss - stepped.loss)).toBeLessThan(1e-6);
    for (const name of Object.keys(stepped.params)) {
      const c = compare(persistent.params[name]!, Float64Array.from(stepped.params[name]!));
      expect(c.ok, `${name}: max abs ${c.maxAbs}`).toBe(true);
    }
  });

  it('with tune, times only the tiles when the step loop is forced', async () => {
    const cell = lowerFile(readFileSync('examples/tagger.seq', 'utf8'), 'examples/tagger.seq').cells.find((c) => c.name === 'WordLSTM')!;
    const sizes = Object.fromEntries(cell.sizes.map((s) => [s.name, s.default ?? 8]));
    // B = 16: where an unforced tune times the step loop both ways (test/tune.test.ts)
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: 16, tune: true, stepLoop: 'stepped' });
    try {
      model.setParams(randomParams(cell, sizes, new Random(8)));
      await model.forward(randomInputs(cell, sizes, 4, 16, new Random(9)));
      expect(model.tuning.map((r) => r.kernel)).not.toContain('WordLSTM/step loop');
    } finally {
      model.dispose();
    }
  });

  it('rejects a plan without a persistent kernel, and a value it does not know, before anything runs', async () => {
    const mingru = buildLaunchPlan(loadExample('mingru'));
    const sizes = { I: 4, H: 4, O: 4 };
    await expect(createModel(mingru, { sizes, stepLoop: 'persistent' })).rejects.toThrow(ScheduleError);
    await expect(createModel(mingru, { sizes, stepLoop: 'persistent' })).rejects.toThrow(/cell MinGRU cannot run its steps in one persistent kernel: its recurrence runs as a parallel scan/);
    await expect(createModel(mingru, { sizes, stepLoop: 'stepped' })).resolves.toBeDefined();
    await expect(createModel(mingru, { sizes, stepLoop: 'sideways' as StepLoop })).rejects.toThrow(/stepLoop must be one of 'auto', 'persistent', 'stepped', got sideways/);
  });

  it('is seqc run --step-loop, with a user error (not an internal one) where it cannot apply', async () => {
    const small = ['--size', 'I=6', '--size', 'H=8', '--steps', '4', '--batch', '3', '--repeats', '1', '--profile'];
    const stepped = await runSeqc('run', 'examples/gru.seq', ...small, '--step-loop', 'stepped');
    expect(stepped.status, stepped.stderr).toBe(0);
    const table = stepped.stdout.slice(stepped.stdout.indexOf('profile:'));
    expect(table).toMatch(/GRU\/step1#2/);
    expect(table).not.toMatch(/GRU\/persistent/);
    const scan = await runSeqc('run', 'examples/mingru.seq', '--size', 'I=4', '--size', 'H=4', '--size', 'O=4', '--step-loop', 'persistent');
    expect(scan.status).toBe(1);
    expect(scan.stderr).toMatch(/^seqc: error: stepLoop 'persistent': cell MinGRU cannot run its steps/);
    const unknown = await runSeqc('run', 'examples/gru.seq', '--step-loop', 'sideways');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/--step-loop sideways: expected auto, persistent or stepped/);
  });
});
