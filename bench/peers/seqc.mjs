// seqc: the case's .seq cell compiled in-process (the same plans `seqc compile` embeds) and
// run with the runtime's model API: forward, or trainStep (BPTT + Adam in one submit).
import { readFileSync } from 'node:fs';
import { lowerSource } from '../../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../../dist/compiler/launch-plan.js';
import { buildTrainingPlans } from '../../dist/compiler/training.js';
import { createModel } from '../../dist/runtime/index.js';
import { Trainer } from '../../dist/runtime/trainer.js';
import { referenceForward } from '../../dist/runtime/reference.js';
import { ADAM } from '../cases.mjs';

export const name = 'seqc';

function sizesOf(c) {
  return c.O === undefined ? { I: c.I, H: c.H } : { I: c.I, H: c.H, O: c.O };
}

function program(c) {
  return lowerSource(readFileSync(c.file, 'utf8'), c.file);
}

class Skip extends Error {}

/**
 * Floating-point operations of the matmuls of one forward pass over the case's [T, B] sequence,
 * read off the cell's IR (any cell, not a formula per family): 2 * N * K for each product of
 * an [N, K] matrix with a K-vector, at every step of every sequence. Elementwise work and
 * reductions are not counted; they are what a matmul rate leaves out.
 */
export function forwardMatmulFlops(c) {
  const cell = program(c);
  const sizes = sizesOf(c);
  let perRow = 0;
  for (const e of cell.eqns) {
    if (e.op !== 'matmul') continue;
    const [n, k] = cell.eqns[e.args[0]].type.shape.map((d) => d.evaluate(sizes));
    perRow += 2 * n * k;
  }
  return perRow * c.T * c.B;
}

/** Outputs in seqc's layout, [T, B, N] per name. `recurrence: 'sequential'` keeps the step loop where a scan applies. */
export async function prepare(c, data, { device, recurrence, tune = false, stepped = false, paramPrecision = 'f32' }) {
  const cell = program(c);
  const planOptions = recurrence ? { recurrence } : {};
  // one dispatch per step: the plan without the persistent kernel that would walk the steps itself
  const schedule = (plan) => (stepped ? { ...plan, kernels: plan.kernels.filter((k) => !k.persistent) } : plan);
  const sizes = sizesOf(c);
  if (c.kind === 'train') {
    const plans = buildTrainingPlans(cell, { kind: 'softmax-ce', output: 'y' }, planOptions);
    const model = await createModel(buildLaunchPlan(cell, planOptions), { sizes, batch: c.B, device, training: { optimizer: ADAM, clipNorm: 0, tune } }, plans);
    model.setParams(data.params);
    const batch = { x: data.x, target: data.target };
    return {
      run: () => model.trainStep(batch),
      get tuning() {
        return model.tuning;
      },
      /** the time of each kernel of the training step alone, for the hoisted GEMM's rate */
      async profile() {
        const trainer = await Trainer.create(model, plans, { optimizer: ADAM });
        try {
          return await trainer.profile(batch, 3);
        } finally {
          trainer.dispose();
        }
      },
      dispose: () => model.dispose(),
    };
  }
  const model = await createModel(schedule(buildLaunchPlan(cell, planOptions)), { sizes, batch: c.B, device, tune, paramPrecision });
  model.setParams(data.params);
  return {
    get tuning() {
      return model.tuning;
    },
    run: () => model.forward(data.x),
    /** the whole forward, then each of its kernels alone (SeqModel.profile): where the time goes */
    profile: () => model.profile(data.x, undefined, { repeats: 3 }),
    outputs: (result) => result.outputs,
    description: model.deviceDescription,
    dispose: () => model.dispose(),
  };
}

/** seqc with the step loop kept: what the parallel scan is measured against, on cells where one applies. */
export const sequential = {
  name: 'seqc-sequential',
  prepare(c, data, options) {
    if (!buildLaunchPlan(program(c)).kernels.some((k) => k.phase === 'scan')) throw new Skip('no linear recurrence in this cell: the same schedule as seqc');
    return prepare(c, data, { ...options, recurrence: 'sequential' });
  },
};

/** The step loop with a dispatch per step (no persistent kernel): the T sequential steps a scan replaces, as a GPU runs them. */
export const stepped = {
  name: 'seqc-stepped',
  prepare(c, data, options) {
    if (!buildLaunchPlan(program(c)).kernels.some((k) => k.phase === 'scan')) throw new Skip('no linear recurrence in this cell: the same schedule as seqc');
    return prepare(c, data, { ...options, recurrence: 'sequential', stepped: true });
  },
};

/** The float64 CPU reference's outputs for a forward case. */
export function reference(c, data) {
  const result = referenceForward(program(c), { params: data.params, inputs: { x: data.x }, sizes: sizesOf(c), T: c.T, B: c.B });
  return result.outputs;
}

/** seqc reading its parameters as halves (runtime/param-halves.ts): f16 where the device offers shader-f16, packed in u32s elsewhere. */
export const halves = {
  name: 'seqc-f16',
  prepare(c, data, options) {
    if (c.kind === 'train') throw new Skip('halves are read by forward only: trainStep keeps f32 parameters');
    return prepare(c, data, { ...options, paramPrecision: 'f16' });
  },
};
