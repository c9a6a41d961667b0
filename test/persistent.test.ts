/**
 * Persistent kernels: one workgroup runs every step kernel at every step, with a barrier
 * after each. Each persistent tile alone equals the float64 reference (forward here, the
 * backward in test/gpu-gradients.test.ts); the runtime takes them for small batches only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { PlanRunner } from '../runtime/plan-runner.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { getDevice, releaseDevice } from '../runtime/index.js';
import { gpuVersusReference, loadExample, persistentOnly } from './gpu-helpers.js';

afterAll(releaseDevice);

const persistent = (plan: LaunchPlan) => plan.kernels.find((k) => k.persistent);
const SIZES = { T: 9, B: 3, sizes: { I: 4, H: 6, O: 5 } };
const EXAMPLES = ['rnn', 'gru', 'gru-reset-after', 'lstm', 'lstm-peephole', 'charlm'];

describe('persistent kernels', () => {
  it('stand for the step kernels of every plan with a step loop, forward and backward', () => {
    for (const name of EXAMPLES) {
      const cell = loadExample(name);
      const training = buildTrainingPlans(cell, { kind: 'mse', output: cell.outputs.includes('y') ? 'y' : cell.outputs[0]! });
      for (const plan of [buildLaunchPlan(cell), training.forward, training.backward]) {
        const steps = plan.kernels.filter((k) => k.phase === 'step' && !k.persistent).length;
        expect(persistent(plan)?.variants.every((v) => v.levels?.length === steps), `${name} ${plan.cell}`).toBe(true);
      }
    }
    // the reset-before GRU's candidate reads r * h: two step kernels, one after the other in each step
    expect(persistent(buildLaunchPlan(loadExample('gru')))!.variants[0]!.levels).toHaveLength(2);
  });

  it.each(['lstm', 'gru', 'rnn', 'lstm-peephole'])('%s: each persistent tile equals the float64 reference', async (name) => {
    const plan = buildLaunchPlan(loadExample(name));
    const variants = persistent(plan)!.variants;
    expect(variants.map((v) => `1x${v.cols}${v.vectorParams ? ' vec4' : ''}`)).toEqual(['1x8 vec4', '1x8', '1x1']);
    for (const [i, v] of variants.entries()) {
      // the vector loads need H a multiple of 4
      const sizes = v.vectorParams ? { ...SIZES, sizes: { ...SIZES.sizes, H: 8 } } : SIZES;
      const results = await gpuVersusReference(loadExample(name), sizes, 41, persistentOnly(plan, i));
      for (const [what, c] of Object.entries(results)) expect(c.ok, `1x${v.cols}${v.vectorParams ? ' vec4' : ''}: ${what}, max abs ${c.maxAbs}`).toBe(true);
    }
  });

  it('take the vector loads where the sizes line them up, and the scalar tile elsewhere', async () => {
    const { device } = await getDevice();
    const plan = buildLaunchPlan(loadExample('lstm'));
    const chosen = async (sizes: Record<string, number>) => {
      const constants = { loss_slot: 0, ...Object.fromEntries(plan.sizes.map((s, i) => [`size_${i}`, sizes[s.name]!])), ...Object.fromEntries(plan.params.map((_, i) => [`param_${i}`, 0])) };
      const kernels = await new PlanRunner(device, plan, sizes, constants).kernelsFor(1);
      return kernels.find((k) => k.kernel.persistent)!.variant.vectorParams ?? false;
    };
    expect(await chosen({ I: 4, H: 64 })).toBe(true);
    expect(await chosen({ I: 4, H: 66 })).toBe(false);
  });

  it('are chosen for a small batch, not for a big one', async () => {
    const { device } = await getDevice();
    const persists = async (plan: LaunchPlan, sizes: Record<string, number>, batch: number) => {
      const constants = { loss_slot: 0, ...Object.fromEntries(plan.sizes.map((s, i) => [`size_${i}`, sizes[s.name]!])), ...Object.fromEntries(plan.params.map((_, i) => [`param_${i}`, 0])) };
      const kernels = await new PlanRunner(device, plan, sizes, constants).kernelsFor(batch);
      const steps = kernels.filter((k) => k.kernel.phase === 'step');
      return steps.length === 1 && steps[0]!.kernel.persistent === true;
    };
    const lstm = buildLaunchPlan(loadExample('lstm'));
    expect(await persists(lstm, { I: 64, H: 128 }, 1)).toBe(true);
    expect(await persists(lstm, { I: 128, H: 256 }, 32)).toBe(false);
    // so the training passes at the gradient tests' small sizes persist: those tests check their gradients
    const training = buildTrainingPlans(loadExample('lstm'), { kind: 'mse', output: 'h' });
    expect(await persists(training.forward, { I: 4, H: 6 }, 3)).toBe(true);
    expect(await persists(training.backward, { I: 4, H: 6 }, 3)).toBe(true);
  });
});
