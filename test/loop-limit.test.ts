// llvmpipe stops an invocation's loops after 65535 iterations in all, silently. Post kernels
// sum over the rows of all steps, so a sum over more rows came out short (0.7-1% off at
// 65,920 rows), and the persistent kernel walks every step, so a long sequence stopped
// part way (outputs 0 from step ~990 of 3000). The runtime now runs both in chunks, a
// dispatch each.
import { afterAll, expect, it } from 'vitest';
import type { LossKind } from '../compiler/loss.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { referenceForward } from '../runtime/reference.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { MAX_LOOP_ITERATIONS } from '../runtime/plan-runner.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { Trainer } from '../runtime/trainer.js';
import { loadExample, persistentOnly } from './gpu-helpers.js';
import { gradCase, relativeError } from './grad-helpers.js';

afterAll(releaseDevice);

async function worstParamError(example: string, loss: LossKind, output: string, dims: { T: number; B: number; sizes: Record<string, number> }): Promise<number> {
  const cell = loadExample(example);
  const c = gradCase(cell, loss, output, dims, 3);
  const ref = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState });
  const model = await createModel(buildLaunchPlan(cell), { sizes: c.sizes, batch: c.B });
  const trainer = await Trainer.create(model, buildTrainingPlans(cell, { kind: loss, output }));
  try {
    model.setParams(c.params);
    const weight = c.inputs['__weight']!;
    const x = c.inputs['x']!;
    const g = await trainer.gradients({
      inputs: model.plan.inputs[0]!.onehot ? Int32Array.from(x) : Float32Array.from(x),
      target: Float32Array.from(c.inputs['__target']!),
      mask: Float32Array.from(weight, (w) => (w > 0 ? 1 : 0)),
      initialState: c.initialState,
    });
    expect(relativeError(g.loss, ref.loss)).toBeLessThan(1e-4);
    let worst = 0;
    for (const [name, grad] of Object.entries(ref.params)) grad.forEach((v, i) => (worst = Math.max(worst, relativeError(g.params[name]![i]!, v, 1e-3))));
    return worst;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const ROWS = { T: 1030, B: 64 };

it(`weight gradients summed over ${ROWS.T * ROWS.B} rows, past the ${MAX_LOOP_ITERATIONS} loop iterations of one invocation`, async () => {
  expect(ROWS.T * ROWS.B).toBeGreaterThan(MAX_LOOP_ITERATIONS);
  expect(await worstParamError('rnn', 'mse', 'h', { ...ROWS, sizes: { I: 2, H: 2 } })).toBeLessThan(1e-4);
}, 480_000);

it('an embedding gradient (a scatter-add over all rows) past the limit too', async () => {
  expect(await worstParamError('charlm', 'softmax-ce', 'y', { ...ROWS, sizes: { V: 5, E: 2, H: 2 } })).toBeLessThan(1e-4);
}, 480_000);

it('the persistent kernel over 3000 steps of a 64-unit RNN, past the limit', async () => {
  const cell = loadExample('rnn');
  const sizes = { I: 2, H: 64 };
  const T = 3000;
  const B = 4;
  const model = await createModel(persistentOnly(buildLaunchPlan(cell)), { sizes, batch: B, seed: 1 });
  try {
    const x = Float32Array.from({ length: T * B * 2 }, (_, i) => Math.sin(i * 0.37));
    const gpu = Object.values((await model.forward(x)).outputs)[0] as Float32Array;
    const f64 = Object.values(referenceForward(cell, { params: await model.getParams(), inputs: { x }, sizes, T, B }).outputs)[0]!;
    let worst = 0;
    f64.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - gpu[i]!))));
    expect(worst).toBeLessThan(1e-5);
  } finally {
    model.dispose();
  }
}, 480_000);
