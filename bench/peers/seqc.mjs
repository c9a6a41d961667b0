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

/** Outputs in seqc's layout, [T, B, N] per name. */
export async function prepare(c, data, { device }) {
  const cell = program(c);
  const sizes = sizesOf(c);
  if (c.kind === 'train') {
    const plans = buildTrainingPlans(cell, { kind: 'softmax-ce', output: 'y' });
    const model = await createModel(buildLaunchPlan(cell), { sizes, batch: c.B, device, training: { optimizer: ADAM, clipNorm: 0 } }, plans);
    model.setParams(data.params);
    const batch = { x: data.x, target: data.target };
    return {
      run: () => model.trainStep(batch),
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
  const model = await createModel(buildLaunchPlan(cell), { sizes, batch: c.B, device });
  model.setParams(data.params);
  return {
    run: () => model.forward(data.x),
    outputs: (result) => result.outputs,
    description: model.deviceDescription,
    dispose: () => model.dispose(),
  };
}

/** The float64 CPU reference's outputs for a forward case. */
export function reference(c, data) {
  const result = referenceForward(program(c), { params: data.params, inputs: { x: data.x }, sizes: sizesOf(c), T: c.T, B: c.B });
  return result.outputs;
}
