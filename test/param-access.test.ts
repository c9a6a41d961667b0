/**
 * Vector parameter loads through a texture (runtime/param-texture.ts) or a storage buffer:
 * the rewritten WGSL reads every parameter the original read, both ways equal the float64
 * reference, the texture follows every change of the parameters (setParams, an optimizer
 * step), and gradients do not depend on the way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { compare } from '../runtime/compare.js';
import { Random } from '../runtime/init.js';
import { adapterNameOf } from '../runtime/device.js';
import { createModel, getDevice, releaseDevice } from '../runtime/index.js';
import { type ParamAccess, setParamAccess, withTextureParams } from '../runtime/param-texture.js';
import { PlanRunner } from '../runtime/plan-runner.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

// H = 32: vector twins are taken at every batch size here, the persistent kernel's at B = 1
const SMALL = { T: 7, B: 3, sizes: { I: 4, H: 32, O: 5, E: 6, V: 9 } };

async function withAccess<T>(access: ParamAccess, work: () => Promise<T>): Promise<T> {
  const { device } = await getDevice();
  setParamAccess(device, access);
  try {
    return await work();
  } finally {
    setParamAccess(device, 'texture');
  }
}

describe('parameters through a texture', () => {
  it('fetches every four-wide parameter load of every vector twin of the examples from the texture', () => {
    let rewritten = 0;
    for (const name of ['lstm', 'gru', 'mingru', 'charlm', 'attention', 'convlstm']) {
      const cell = loadExample(name);
      const training = buildTrainingPlans(cell, { kind: 'mse', output: cell.outputs[0]! });
      for (const plan of [buildLaunchPlan(cell), training.forward, training.backward]) {
        for (const kernel of plan.kernels.filter((k) => k.usesParams)) {
          for (const variant of kernel.variants) {
            if (!variant.vectorParams) {
              expect(() => withTextureParams(variant.wgsl)).toThrow(/vector twin/);
              continue;
            }
            const text = withTextureParams(variant.wgsl);
            const vectorLoads = variant.wgsl.match(/let w\d+ = params\[/g)?.length ?? 0;
            const componentReads = variant.wgsl.match(/\bparams\[\([^[\]]*?\) >> 2u\]\[\(/g)?.length ?? 0;
            expect(text).toContain('var params_texture: texture_2d<f32>;');
            expect(text).toContain('var<storage, read> params: array<f32>;');
            // buffers read four at a time stay vec4s; only the parameters move to the texture
            expect(text, kernel.label).not.toMatch(/params: array<vec4<f32>>|\bparams\[[^\]]*>> 2u\]\[/);
            expect((text.match(/= param_texel\(/g) ?? []).length, kernel.label).toBe(vectorLoads);
            expect((text.match(/\bparams\[/g) ?? []).length, kernel.label).toBe(componentReads);
            rewritten++;
          }
        }
      }
    }
    expect(rewritten).toBeGreaterThan(50);
  });

  it('is what a runner takes on this adapter unless told otherwise', async () => {
    const { device } = await getDevice();
    const plan = buildLaunchPlan(loadExample('lstm'));
    const sizes = { I: 4, H: 32 };
    const constants = { loss_slot: 4736, size_0: 4, size_1: 32, param_0: 0, param_1: 512, param_2: 4608 };
    const runner = (): PlanRunner => new PlanRunner(device, plan, sizes, constants);
    expect(runner().paramTexture).toBe(/llvmpipe|lavapipe|softpipe/i.test(adapterNameOf(device)));
    expect(await withAccess('buffer', async () => runner().paramTexture)).toBe(false);
    expect(await withAccess('texture', async () => runner().paramTexture)).toBe(true);
    // the sizes the comparisons below run at do take the texture, forward and backward
    const textured = (plan: LaunchPlan, batch: number) =>
      withAccess('texture', async () => (await new PlanRunner(device, plan, sizes, constants).kernelsFor(batch)).filter((k) => k.textured).map((k) => k.kernel.phase));
    for (const batch of [1, 3, 5]) expect(await textured(plan, batch), `B=${batch}`).toContain('hoisted');
    expect(await textured(plan, 1)).toEqual(['hoisted', 'step']);
    const training = buildTrainingPlans(loadExample('rnn'), { kind: 'mse', output: 'h' });
    expect(await textured(training.forward, 3)).not.toEqual([]);
  });

  it.each(['lstm', 'gru', 'charlm', 'lstm-peephole'])('%s equals the float64 reference read either way', async (name) => {
    for (const access of ['buffer', 'texture'] as const) {
      for (const B of [1, 5]) {
        const results = await withAccess(access, () => gpuVersusReference(loadExample(name), { ...SMALL, B }, 17 + B));
        for (const [what, c] of Object.entries(results)) expect(c.ok, `${access}, B=${B}: ${what}, max abs ${c.maxAbs}`).toBe(true);
      }
    }
  });

  it('follows setParams and every optimizer step', async () => {
    const cell = loadExample('lstm');
    const { T, B } = SMALL;
    const sizes = { I: 4, H: 32 };
    const random = new Random(5);
    const plans = buildTrainingPlans(cell, { kind: 'mse', output: 'h' });
    const model = await withAccess('texture', () => createModel(buildLaunchPlan(cell), { sizes, batch: B, training: { optimizer: { kind: 'sgd', learningRate: 0.5 } } }, plans));
    try {
      const inputs = randomInputs(cell, sizes, T, B, random);
      const expectReference = async (params: Record<string, Float32Array>, label: string) => {
        const gpu = await model.forward(inputs);
        const ref = referenceForward(cell, { params, inputs, sizes, T, B });
        const c = compare(gpu.outputs['h']!, ref.outputs['h']!);
        expect(c.ok, `${label}: max abs ${c.maxAbs}`).toBe(true);
      };
      const first = randomParams(cell, sizes, random);
      model.setParams(first);
      await expectReference(first, 'first parameters');
      const second = randomParams(cell, sizes, random);
      model.setParams(second);
      await expectReference(second, 'after setParams');
      const target = Float32Array.from({ length: T * B * 32 }, () => random.uniform() - 0.5);
      for (let step = 0; step < 2; step++) {
        await model.trainStep({ x: inputs['x']!, target });
        const trained = await model.getParams();
        expect(compare(trained['U']!, second['U']!).ok, 'the step changed U').toBe(false);
        await expectReference(trained, `after optimizer step ${step + 1}`);
      }
    } finally {
      model.dispose();
    }
  });

  it('gives the same gradients as the storage buffer', async () => {
    const cell = loadExample('rnn');
    const { T, B } = SMALL;
    const sizes = { I: 4, H: 32 };
    const random = new Random(9);
    const params = randomParams(cell, sizes, random);
    const inputs = randomInputs(cell, sizes, T, B, random);
    const target = Float32Array.from({ length: T * B * 32 }, () => random.uniform() - 0.5);
    const gradients = (access: ParamAccess) =>
      withAccess(access, async () => {
        const plans = buildTrainingPlans(cell, { kind: 'mse', output: 'h' });
        const model = await createModel(buildLaunchPlan(cell), { sizes, batch: B });
        const trainer = await Trainer.create(model, plans);
        try {
          model.setParams(params);
          return await trainer.gradients({ x: inputs['x']!, target });
        } finally {
          trainer.dispose();
          model.dispose();
        }
      });
    const [buffer, texture] = [await gradients('buffer'), await gradients('texture')];
    expect(texture.loss).toBeCloseTo(buffer.loss, 6);
    for (const [name, g] of Object.entries(buffer.params)) {
      const c = compare(texture.params[name]!, g);
      expect(c.ok, `d${name}: max abs ${c.maxAbs}`).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
    }
  });
});
