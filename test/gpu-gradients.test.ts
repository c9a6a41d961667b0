/**
 * Gradients on the GPU (f32) equal the float64 reference gradients of the same backward
 * program, for every parameter, input and initial state; and the optimizer kernels do what
 * their formulas say.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CellProgram } from '../compiler/ir.js';
import { type PlanOptions, buildLaunchPlan } from '../compiler/launch-plan.js';
import { withLengths } from '../compiler/lengths.js';
import type { LossKind } from '../compiler/loss.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { SCAN_TILES } from '../compiler/wgsl-scan.js';
import type { LaunchPlan, PlanKernel, PlanVariant } from '../runtime/plan.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { Trainer } from '../runtime/trainer.js';
import { loadExample, persistentOnly } from './gpu-helpers.js';
import { gradCase, relativeError } from './grad-helpers.js';

afterAll(releaseDevice);

/** A plan without its persistent kernel: the runtime steps. */
const stepped = (plan: LaunchPlan): LaunchPlan => ({ ...plan, kernels: plan.kernels.filter((k) => !k.persistent) });

/** A plan whose kernels keep only the tile variants `keep` accepts (all of them where it accepts none). */
function withVariants(plan: LaunchPlan, keep: (v: PlanVariant, k: PlanKernel) => boolean): LaunchPlan {
  return { ...plan, kernels: plan.kernels.map((k) => ({ ...k, variants: k.variants.some((v) => keep(v, k)) ? k.variants.filter((v) => keep(v, k)) : k.variants })) };
}

async function compareGradients(cell: CellProgram, loss: LossKind, output: string, dims: { T: number; B: number; sizes: Record<string, number> }, seed: number, shape: (plan: LaunchPlan) => LaunchPlan = (plan) => plan, options: PlanOptions = {}) {
  const c = gradCase(cell, loss, output, dims, seed);
  const ref = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState });
  const model = await createModel(shape(buildLaunchPlan(cell, options)), { sizes: c.sizes, batch: c.B });
  const plans = buildTrainingPlans(cell, { kind: loss, output }, options);
  const trainer = await Trainer.create(model, { ...plans, forward: shape(plans.forward), backward: shape(plans.backward) });
  try {
    model.setParams(c.params);
    const weight = c.inputs['__weight']!;
    const g = await trainer.gradients({
      inputs: Float32Array.from(c.inputs['x']!),
      target: Float32Array.from(c.inputs['__target']!),
      mask: Float32Array.from(weight, (w) => (w > 0 ? 1 : 0)),
      initialState: c.initialState,
    });
    expect(relativeError(g.loss, ref.loss)).toBeLessThan(1e-5);
    let worst = 0;
    const check = (what: string, gpu: Float32Array, f64: Float64Array) => {
      expect(gpu.length, what).toBe(f64.length);
      for (let i = 0; i < f64.length; i++) {
        const error = relativeError(gpu[i]!, f64[i]!, 1e-3);
        worst = Math.max(worst, error);
        expect(error, `${what}[${i}]: gpu ${gpu[i]} vs f64 ${f64[i]}`).toBeLessThan(1e-3);
      }
    };
    for (const [name, grad] of Object.entries(ref.params)) check(`d${name}`, g.params[name]!, grad);
    check('dx', g.inputs['x']!, ref.inputs['x']!);
    for (const [name, grad] of Object.entries(ref.initialStates)) check(`d${name}0`, g.initialStates[name]!, grad);
    return worst;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const SMALL = { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5 } };
const MEDIUM = { T: 8, B: 4, sizes: { I: 8, H: 32, O: 7 } };
const EXAMPLES = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'gru-simple', 'lstm', 'lstm-simple', 'lstm-peephole', 'mingru'];

describe('GPU gradients equal the float64 reference (relative 1e-3)', () => {
  it.each(EXAMPLES.flatMap((name) => [[name, 'small', SMALL], [name, 'medium', MEDIUM]] as const))('%s, %s sizes', async (name, _label, dims) => {
    const cell = loadExample(name);
    await compareGradients(cell, 'softmax-ce', cell.outputs.includes('y') ? 'y' : cell.outputs[0]!, dims, 17);
  });

  // at small batches the runtime picks the persistent kernels; here each schedule is checked on its own,
  // the backward (a reverse program of two or three step kernels) included
  it.each(['lstm', 'gru'].flatMap((name) => [[name, 'stepped', stepped], [name, 'persistent', persistentOnly]] as const))('%s, %s forward and backward', async (name, _label, schedule) => {
    await compareGradients(loadExample(name), 'softmax-ce', 'h', { T: 7, B: 3, sizes: { I: 4, H: 6 } }, 43, (plan) => schedule(plan));
  });

  it.each(['mse', 'sigmoid-bce'] as LossKind[])('LSTM with %s', async (loss) => {
    await compareGradients(loadExample('lstm'), loss, 'h', SMALL, 23);
  });

  // the runtime picks one variant per kernel for the sizes; each tile family must be right on its own,
  // at a batch that leaves the last row tile partial
  const FAMILIES: [string, (v: PlanVariant) => boolean][] = [
    ['lanes owning row tiles', (v) => v.lanes === 'rows'],
    ['32-row tiles', (v) => v.rows === 32 && !v.lanes],
    ['one-row tiles', (v) => v.rows === 1],
    // at H=20 the runtime takes the twins that read weights as vec4s; their scalar tiles serve other sizes
    ['8-row tiles reading scalars', (v) => v.rows === 8 && !v.vectorParams],
  ];
  // the families' code does not depend on the cell: the LSTM's (four gate blocks, two states) stand for all
  const CASES = FAMILIES.map(([family, keep]) => ['lstm', family, keep] as const);
  // the 32-row family's variants capped at 48 KiB of WGSL (fewer columns per tile): a cold
  // shader cache compiled the full-size 32-row LSTM tiles for 250 s
  it.each(CASES)('%s with only %s', async (name, family, keep) => {
    const options = family === '32-row tiles' ? { maxKernelChars: 48 * 1024 } : {};
    await compareGradients(loadExample(name), 'softmax-ce', 'h', { T: 6, B: 37, sizes: { I: 8, H: 20 } }, 29, (plan) => withVariants(stepped(plan), keep), options);
  });

  // the forward and the backward (a reverse recurrence) both run as scans, with several steps per time lane
  const SCAN_CASES = SCAN_TILES.flatMap((tile) => [['without', tile.rows], ['with', tile.rows]] as const);
  it.each(SCAN_CASES)('minGRU through its scans at T=75, %s sequence lengths, %i time lanes', async (lengths, timeLanes) => {
    const cell = lengths === 'with' ? withLengths(loadExample('mingru')) : loadExample('mingru');
    const plans = buildTrainingPlans(cell, { kind: 'softmax-ce', output: 'y' });
    expect([...plans.forward.kernels, ...plans.backward.kernels].filter((k) => k.phase === 'scan')).toHaveLength(2);
    await compareGradients(cell, 'softmax-ce', 'y', { T: 75, B: 3, sizes: { I: 4, H: 6, O: 5 } }, 37, (plan) => withVariants(plan, (v, k) => k.phase !== 'scan' || v.rows === timeLanes));
  });
});

describe('optimizer kernels', () => {
  const cell = () => loadExample('rnn');
  const sizes = { I: 3, H: 4 };
  const T = 4;
  const B = 2;
  const batch = {
    inputs: Float32Array.from({ length: T * B * 3 }, (_, i) => Math.sin(i + 1)),
    target: Float32Array.from({ length: T * B * 4 }, (_, i) => Math.cos(i)),
  };

  it('SGD with momentum 0 moves every parameter by -lr * gradient', async () => {
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell(), { kind: 'mse', output: 'h' }), { optimizer: { kind: 'sgd', learningRate: 0.1 } });
    try {
      const before = await model.getParams();
      const g = await trainer.gradients(batch);
      const loss = await trainer.step(batch);
      expect(loss).toBeCloseTo(g.loss, 6);
      const after = await model.getParams();
      for (const name of model.paramNames) {
        for (let i = 0; i < before[name]!.length; i++) expect(after[name]![i]!).toBeCloseTo(before[name]![i]! - 0.1 * g.params[name]![i]!, 6);
      }
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('the parameter average is the bias-corrected moving average of the parameters after each step', async () => {
    const decay = 0.6;
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell(), { kind: 'mse', output: 'h' }), { optimizer: { kind: 'adam', learningRate: 0.05 }, averageDecay: decay });
    try {
      await expect(trainer.averagedParams()).rejects.toThrow(/before the first training step/);
      const sums: Record<string, Float64Array> = {};
      for (let step = 1; step <= 4; step++) {
        await trainer.step(batch);
        const now = await model.getParams();
        for (const name of model.paramNames) {
          sums[name] ??= new Float64Array(now[name]!.length);
          for (let i = 0; i < now[name]!.length; i++) sums[name]![i] = decay * sums[name]![i]! + (1 - decay) * now[name]![i]!;
        }
      }
      const averaged = await trainer.averagedParams();
      const last = await model.getParams();
      let moved = 0;
      for (const name of model.paramNames) {
        for (let i = 0; i < last[name]!.length; i++) {
          const expected = sums[name]![i]! / (1 - decay ** 4);
          expect(averaged[name]![i]!).toBeCloseTo(expected, 5);
          moved = Math.max(moved, Math.abs(averaged[name]![i]! - last[name]![i]!));
        }
      }
      // the average lags the last weights: it is not a copy of them
      expect(moved).toBeGreaterThan(1e-3);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('a trainer without averageDecay keeps no average', async () => {
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell(), { kind: 'mse', output: 'h' }));
    try {
      await trainer.step(batch);
      await expect(trainer.averagedParams()).rejects.toThrow(/keeps no parameter average/);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('clipping scales the step to the global norm', async () => {
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell(), { kind: 'mse', output: 'h' }), { optimizer: { kind: 'sgd', learningRate: 1 }, clipNorm: 0.01 });
    try {
      const before = await model.getParams();
      const g = await trainer.gradients(batch);
      await trainer.step(batch);
      const after = await model.getParams();
      const norm = Math.sqrt(Object.values(g.params).reduce((s, v) => s + v.reduce((a, x) => a + x * x, 0), 0));
      expect(trainer.lastGradientNorm).toBeCloseTo(norm, 4);
      let moved = 0;
      for (const name of model.paramNames) for (let i = 0; i < before[name]!.length; i++) moved += (after[name]![i]! - before[name]![i]!) ** 2;
      expect(Math.sqrt(moved)).toBeCloseTo(0.01, 5);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('stateful training carries the final state into the next window; resetState forgets it', async () => {
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const plans = buildTrainingPlans(cell(), { kind: 'mse', output: 'h' });
    // a zero learning rate keeps the parameters, so losses can be compared across trainers
    const stateful = await Trainer.create(model, plans, { optimizer: { kind: 'sgd', learningRate: 0 }, stateful: true });
    const plain = await Trainer.create(model, plans, { optimizer: { kind: 'sgd', learningRate: 0 } });
    try {
      const second = { inputs: batch.inputs.map((v) => -v), target: batch.target };
      await stateful.step(batch);
      const buffers = stateful.bufferCount;
      const carried = await stateful.step(second);
      const { states } = await model.forward(batch.inputs);
      const expected = await plain.gradients({ ...second, initialState: states });
      expect(carried).toBeCloseTo(expected.loss, 5);
      const fromZero = await plain.gradients(second);
      expect(Math.abs(carried - fromZero.loss)).toBeGreaterThan(1e-4);
      stateful.resetState();
      expect(await stateful.step(second)).toBeCloseTo(fromZero.loss, 5);
      for (let i = 0; i < 20; i++) await stateful.step(batch);
      expect(stateful.bufferCount).toBe(buffers);
    } finally {
      stateful.dispose();
      plain.dispose();
      model.dispose();
    }
  });

  it('Adam fits a fixed batch: the loss falls by 10x in 150 steps', async () => {
    const model = await createModel(buildLaunchPlan(cell()), { sizes, batch: B, seed: 4 });
    const trainer = await Trainer.create(model, buildTrainingPlans(cell(), { kind: 'mse', output: 'h' }), { optimizer: { kind: 'adam', learningRate: 0.05 } });
    try {
      const first = await trainer.step({ ...batch, target: batch.target.map((v) => 0.5 * v) });
      let last = first;
      for (let i = 0; i < 150; i++) last = await trainer.step({ ...batch, target: batch.target.map((v) => 0.5 * v) });
      expect(last).toBeLessThan(first / 10);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});
