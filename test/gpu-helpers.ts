/** Shared by the GPU tests: compile an example, run it on the device, run the reference. */
import { readFileSync } from 'node:fs';
import { lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { type Comparison, compare } from '../runtime/compare.js';
import { Random } from '../runtime/init.js';
import { createModel } from '../runtime/index.js';
import { referenceForward } from '../runtime/reference.js';

export function loadExample(name: string): CellProgram {
  const file = `examples/${name}.seq`;
  return lowerSource(readFileSync(file, 'utf8'), file);
}

export interface Sizes {
  readonly T: number;
  readonly B: number;
  readonly sizes: Readonly<Record<string, number>>;
}

/**
 * Runs a cell on the GPU and in float64 on fresh random weights, inputs and initial states;
 * `given` replaces some of the random inputs (a mask of a chosen pattern).
 */
export async function gpuVersusReference(program: CellProgram, { T, B, sizes }: Sizes, seed: number, plan: LaunchPlan = buildLaunchPlan(program), given: Readonly<Record<string, Float32Array>> = {}): Promise<Record<string, Comparison>> {
  const bound = Object.fromEntries(program.sizes.map((s) => [s.name, sizes[s.name]!]));
  const random = new Random(seed);
  const model = await createModel(plan, { sizes: bound, batch: B });
  try {
    const params = randomParams(program, bound, random);
    model.setParams(params);
    const inputs = { ...randomInputs(program, bound, T, B, random), ...given };
    const initialState: Record<string, Float32Array> = {};
    for (const s of program.states) {
      const n = s.shape.reduce((a, d) => a * d.evaluate(bound), 1);
      initialState[s.name] = Float32Array.from({ length: s.maxLag * B * n }, () => random.uniform() - 0.5);
    }
    const gpu = await model.forward(inputs, initialState);
    const ref = referenceForward(program, { params, inputs, sizes: bound, T, B, initialState });
    const results: Record<string, Comparison> = {};
    for (const [name, expected] of Object.entries(ref.outputs)) results[`output ${name}`] = compare(gpu.outputs[name]!, expected);
    for (const [name, expected] of Object.entries(ref.finalStates)) results[`final ${name}`] = compare(gpu.states[name]!, expected);
    return results;
  } finally {
    model.dispose();
  }
}

/** The plan that runs its persistent kernel, of `cols` columns per tile, instead of its step kernels. */
export function persistentOnly(plan: LaunchPlan, variant?: number): LaunchPlan {
  if (!plan.kernels.some((k) => k.persistent)) throw new Error(`plan ${plan.cell} has no persistent kernel`);
  return {
    ...plan,
    kernels: plan.kernels
      .filter((k) => k.persistent || k.phase !== 'step')
      .map((k) => (k.persistent && variant !== undefined ? { ...k, variants: [k.variants[variant]!] } : k)),
  };
}
