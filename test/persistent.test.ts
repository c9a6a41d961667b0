/**
 * Persistent step kernels: one workgroup runs every step, looping over time with a barrier
 * between steps. Each persistent tile alone equals the float64
 * reference; the runtime takes them for small batches only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { PlanRunner } from '../runtime/plan-runner.js';
import type { LaunchPlan, PlanVariant } from '../runtime/plan.js';
import { getDevice, releaseDevice } from '../runtime/index.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

/** The plan with its step kernels' variants cut to those `keep` accepts. */
function onlyStepVariants(plan: LaunchPlan, keep: (v: PlanVariant) => boolean): LaunchPlan {
  return { ...plan, kernels: plan.kernels.map((k) => (k.phase === 'step' ? { ...k, variants: k.variants.filter(keep) } : k)) };
}

const persistentTiles = (plan: LaunchPlan) => plan.kernels.flatMap((k) => k.variants.filter((v) => v.persistent).map((v) => `${v.rows}x${v.cols}`));
const SIZES = { T: 9, B: 3, sizes: { I: 4, H: 6, O: 5 } };

describe('persistent step kernels', () => {
  it('exist where a step is one kernel', () => {
    expect(persistentTiles(buildLaunchPlan(loadExample('lstm'))).length).toBeGreaterThan(0);
    // the reset-before GRU's candidate reads r * h: a second step kernel, which must wait for the first
    expect(buildLaunchPlan(loadExample('gru')).kernels.filter((k) => k.phase === 'step').length).toBe(2);
    expect(persistentTiles(buildLaunchPlan(loadExample('gru')))).toEqual([]);
  });

  const cells: [string, () => CellProgram][] = [
    ['lstm', () => loadExample('lstm')],
    ['lstm-peephole', () => loadExample('lstm-peephole')],
    ['rnn', () => loadExample('rnn')],
  ];
  it.each(cells)('%s: each persistent tile equals the float64 reference', async (_name, cell) => {
    const plan = buildLaunchPlan(cell());
    const tiles = [...new Set(persistentTiles(plan))];
    expect(tiles.length).toBeGreaterThan(1);
    for (const tile of tiles) {
      const results = await gpuVersusReference(cell(), SIZES, 41, onlyStepVariants(plan, (v) => v.persistent === true && `${v.rows}x${v.cols}` === tile));
      for (const [what, c] of Object.entries(results)) expect(c.ok, `${tile}: ${what}, max abs ${c.maxAbs}`).toBe(true);
    }
  });

  it('are chosen for a small batch, not for a big one', async () => {
    const { device } = await getDevice();
    const chosen = async (plan: LaunchPlan, sizes: Record<string, number>, batch: number) => {
      const constants = { loss_slot: 0, ...Object.fromEntries(plan.sizes.map((s, i) => [`size_${i}`, sizes[s.name]!])), ...Object.fromEntries(plan.params.map((_, i) => [`param_${i}`, 0])) };
      const kernels = await new PlanRunner(device, plan, sizes, constants).kernelsFor(batch);
      return kernels.find((k) => k.kernel.phase === 'step')!.variant.persistent === true;
    };
    const lstm = buildLaunchPlan(loadExample('lstm'));
    expect(await chosen(lstm, { I: 64, H: 128 }, 1)).toBe(true);
    expect(await chosen(lstm, { I: 128, H: 256 }, 32)).toBe(false);
    // so the training forward at the gradient tests' small sizes persists: those tests check its gradients
    const training = buildTrainingPlans(loadExample('lstm'), { kind: 'mse', output: 'h' }).forward;
    expect(await chosen(training, { I: 4, H: 6 }, 3)).toBe(true);
  });
});
