/**
 * Parameters stored as halves (runtime/param-halves.ts): every kernel of the examples,
 * rewritten both ways (f16, packed), passes naga's WGSL validator, with every read of the
 * parameters converted; on this adapter (no shader-f16: packed) the kernels equal the
 * float64 reference run on the halves they read, and differ from it run on the f32
 * parameters, which they no longer read.
 */
import { parseWgsl, validate } from 'naga-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { compare } from '../runtime/compare.js';
import { readBack } from '../runtime/executor.js';
import { Random } from '../runtime/init.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { type HalfSpelling, halfConversionWgsl, halfParamsOf, readHalfParams, withHalfParams } from '../runtime/param-halves.js';
import { referenceForward } from '../runtime/reference.js';
import { loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

const SPELLINGS: HalfSpelling[] = ['f16', 'packed'];

/** naga's message, or undefined where the WGSL parses and validates. */
function nagaError(wgsl: string): string | undefined {
  try {
    validate(parseWgsl(wgsl));
    return undefined;
  } catch (error) {
    return (error as { formatted?: string }).formatted ?? String(error);
  }
}

describe('parameters stored as halves: the rewritten WGSL', () => {
  it('converts every read of params in every kernel of the examples, and validates in naga', () => {
    let rewritten = 0;
    for (const name of ['lstm', 'gru', 'mingru', 'charlm', 'attention', 'convlstm', 'transformer', 'seq2seq', 'tagger']) {
      const cell = loadExample(name);
      const training = buildTrainingPlans(cell, { kind: 'mse', output: cell.outputs[0]! });
      for (const plan of [buildLaunchPlan(cell), training.forward, training.backward]) {
        for (const kernel of plan.kernels.filter((k) => k.usesParams)) {
          // naga takes seconds on the biggest tiles: it validates the shortest of each declaration, which has every form of read the longer ones repeat
          const shortest = (vector: boolean) => kernel.variants.filter((v) => (v.vectorParams ?? false) === vector).sort((a, b) => a.wgsl.length - b.wgsl.length)[0];
          const validated = new Set([shortest(true), shortest(false)]);
          for (const variant of kernel.variants) {
            const reads = variant.wgsl.match(/\bparams\[/g)?.length ?? 0;
            for (const spelling of SPELLINGS) {
              const text = withHalfParams(variant.wgsl, spelling);
              if (validated.has(variant)) expect(nagaError(text), `${kernel.label} ${spelling}`).toBeUndefined();
              // every read is a call now: what indexes params is only the helpers' bodies
              const calls = text.match(/\bparam_(?:vec4|lane|at)\(/g)!.length;
              const helpers = text.match(/^fn param_/gm)!.length;
              expect(calls - helpers, `${kernel.label} ${spelling}`).toBe(reads);
              expect(text.startsWith('enable f16;'), spelling).toBe(spelling === 'f16');
              rewritten++;
            }
          }
        }
      }
    }
    expect(rewritten).toBeGreaterThan(400);
  });

  it('converts reads inside indices and leaves gradients and comments alone', () => {
    const wgsl = [
      '@group(0) @binding(1) var<storage, read> params: array<f32>;',
      '@group(0) @binding(2) var<storage, read_write> grads: array<f32>;',
      'fn f(i: u32) -> f32 {',
      '  grads[i] = params[u32(params[i + 1u])] * 2.0; // params[i] in a comment',
      '  return params[i];',
      '}',
    ].join('\n');
    const text = withHalfParams(wgsl, 'packed');
    expect(text).toContain('  grads[i] = param_at(u32(param_at(i + 1u))) * 2.0; // params[i] in a comment');
    expect(text).toContain('  return param_at(i);');
    expect(nagaError(text)).toBeUndefined();
  });

  it('refuses a kernel that writes its parameters, or declares none', () => {
    const writes = ['@group(0) @binding(1) var<storage, read> params: array<f32>;', 'fn f() { params[0u] = 1.0; }'].join('\n');
    expect(() => withHalfParams(writes, 'packed')).toThrow(/writes its parameters/);
    expect(() => withHalfParams('fn f() {}', 'f16')).toThrow(/declares no parameter buffer/);
  });

  it('has conversion kernels naga accepts, and naga checks the f16 enable', () => {
    for (const spelling of SPELLINGS) expect(nagaError(halfConversionWgsl(spelling)), spelling).toBeUndefined();
    // the check can fail: halves used without the enable directive are rejected
    const withoutEnable = halfConversionWgsl('f16').replace('enable f16;\n', '');
    expect(nagaError(withoutEnable)).toMatch(/f16/);
  });
});

// H = 32: vector twins at every batch size; B = 1 runs the persistent kernel
const SMALL = { T: 7, sizes: { I: 4, H: 32, O: 5, E: 6, V: 9 } };

describe('parameters stored as halves: on this adapter', () => {
  it.each(['lstm', 'gru', 'mingru', 'charlm'])('%s equals the float64 reference on the halves it reads', async (name) => {
    const program = loadExample(name);
    const sizes = Object.fromEntries(program.sizes.map((s) => [s.name, SMALL.sizes[s.name as keyof typeof SMALL.sizes]]));
    for (const B of [1, 5]) {
      const random = new Random(40 + B);
      const model = await createModel(buildLaunchPlan(program), { sizes, batch: B, paramPrecision: 'f16' });
      try {
        const params = randomParams(program, sizes, random);
        model.setParams(params);
        const inputs = randomInputs(program, sizes, SMALL.T, B, random);
        const gpu = await model.forward(inputs);
        // the halves the kernels read, as f32s in the device's layout
        expect(halfParamsOf(model.device, model.paramBuffer).spelling).toBe(model.device.features.has('shader-f16') ? 'f16' : 'packed');
        const widened = await readHalfParams(model.device, model.paramBuffer);
        const master = await readBack(model.device, model.paramBuffer, 0, model.paramBuffer.size / 4);
        for (let i = 0; i < master.length; i++) {
          // either neighbour of the f32 value (WGSL leaves the rounding direction to the device)
          const spacing = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(master[i]!) || 1e-30)), -14) - 10);
          if (!(Math.abs(widened[i]! - master[i]!) < spacing)) expect.fail(`${name}: parameter ${i} ${master[i]} stored as ${widened[i]}`);
        }
        // the same halves, back in the f32 buffer, give them by name in the cell's layout
        model.device.queue.writeBuffer(model.paramBuffer, 0, widened);
        const rounded = await model.getParams();
        const onHalves = referenceForward(program, { params: rounded, inputs, sizes, T: SMALL.T, B });
        const onF32 = referenceForward(program, { params, inputs, sizes, T: SMALL.T, B });
        for (const [output, expected] of Object.entries(onHalves.outputs)) {
          const c = compare(gpu.outputs[output]!, expected);
          expect(c.ok, `${name} B=${B} ${output}: max abs ${c.maxAbs}`).toBe(true);
          expect(compare(gpu.outputs[output]!, onF32.outputs[output]!).ok, `${name} B=${B} ${output} read f32 parameters`).toBe(false);
        }
      } finally {
        model.dispose();
      }
    }
  });

  it('rejects a precision it does not know', async () => {
    const plan = buildLaunchPlan(loadExample('rnn'));
    await expect(createModel(plan, { sizes: { I: 4, H: 8 }, paramPrecision: 'f8' as 'f16' })).rejects.toThrow(/paramPrecision must be 'f32' or 'f16', got f8/);
  });
});
