/**
 * Temporaries share device buffers where their lifetimes do not overlap (runtime/liveness.ts):
 * never two in one kernel (a dispatch may not alias a writable binding, and one would
 * overwrite the other), never anything but temps, and the results stay those of the float64
 * reference.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerFile } from '../compiler/frontend.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { storageOwners } from '../runtime/liveness.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

const sources = [...readdirSync('examples').filter((f) => f.endsWith('.seq')).map((f) => `examples/${f}`), 'bench/cells/lstm-readout.seq'];

function plansOf(file: string): LaunchPlan[] {
  const plans: LaunchPlan[] = [];
  for (const cell of lowerFile(readFileSync(file, 'utf8'), file).cells) {
    plans.push(buildLaunchPlan(cell));
    const output = cell.outputs[0]!;
    const training = buildTrainingPlans(cell, { kind: 'mse', output });
    plans.push(training.forward, training.backward);
  }
  return plans;
}

describe('temporaries sharing storage', () => {
  it.each(sources)('%s: no kernel binds two buffers of one storage, and only temps share', (file) => {
    for (const plan of plansOf(file)) {
      const owners = storageOwners(plan);
      owners.forEach((owner, i) => {
        if (owner !== i) expect([plan.buffers[i]!.kind, plan.buffers[owner]!.kind]).toEqual(['temp', 'temp']);
      });
      for (const kernel of plan.kernels) {
        const storages = kernel.buffers.map((b) => owners[b.buffer]);
        expect(new Set(storages).size, `${plan.cell} ${kernel.label}`).toBe(storages.length);
      }
    }
  });

  it('a minGRU forward keeps its three temps in two buffers: the scan coefficients give way to the readout', () => {
    const plan = buildLaunchPlan(loadExample('mingru'));
    const owners = storageOwners(plan);
    const temps = plan.buffers.map((b, i) => ({ b, i })).filter(({ b }) => b.kind === 'temp');
    expect(temps).toHaveLength(3);
    expect(new Set(temps.map(({ i }) => owners[i])).size).toBe(2);
  });

  it('a transformer decoder layer, forward, equals the float64 reference with its 28 temps in 5 buffers', async () => {
    const [, , , , , decoder] = lowerFile(readFileSync('examples/transformer.seq', 'utf8'), 'examples/transformer.seq').cells;
    expect(decoder!.name).toBe('DecoderLayer');
    const plan = buildLaunchPlan(decoder!);
    const owners = storageOwners(plan);
    const temps = plan.buffers.map((b, i) => ({ b, i })).filter(({ b }) => b.kind === 'temp');
    expect(temps).toHaveLength(28);
    expect(new Set(temps.map(({ i }) => owners[i])).size).toBe(5);
    const sizes = Object.fromEntries(decoder!.sizes.map((s) => [s.name, s.default ?? 8]));
    const results = await gpuVersusReference(decoder!, { T: 5, B: 2, sizes }, 11, plan);
    for (const [name, r] of Object.entries(results)) expect(r.ok, `${name}: max abs ${r.maxAbs}`).toBe(true);
  });

  it('a model holds one device buffer per storage, not per plan buffer', async () => {
    const cell = loadExample('mingru');
    const plan = buildLaunchPlan(cell);
    const model = await createModel(plan, { sizes: { I: 8, H: 16, O: 8 }, batch: 2 });
    try {
      await model.forward(new Float32Array(3 * 2 * 8).map((_, i) => Math.sin(i)));
      const storages = new Set(storageOwners(plan)).size;
      // the parameters, the executor's launch uniform and readback buffer, and the storages
      expect(model.bufferCount).toBe(1 + 2 + storages);
      expect(storages).toBeLessThan(plan.buffers.length);
    } finally {
      model.dispose();
    }
  });
});
