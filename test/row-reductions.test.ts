/**
 * Reductions over a row (a softmax's max and sum, a layer norm's mean and variance) are
 * computed in the kernel that reads them (compiler/schedule.ts), whose whole-row tile runs
 * each once per row (Tile.wholeRows). For any cell: the kernels they save, after the loop and
 * in it, and every tile of those kernels equal to the float64 reference on random inputs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { lowerFile, lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { schedule } from '../compiler/schedule.js';
import { releaseDevice } from '../runtime/index.js';
import type { LaunchPlan, PlanVariant } from '../runtime/plan.js';
import { gpuVersusReference, loadExample, persistentOnly } from './gpu-helpers.js';

afterAll(releaseDevice);

// A cell of no known family: a softmax of a layer-normalized readout of an Elman state: four
// reductions over a row, the softmax's reading the layer norm's.
const NORMED = `cell Normed(x: [I]) -> h, y {
  param W: [H, I] = xavier
  param U: [H, H] = orthogonal
  param gain: [H] = xavier
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + U @ h[t-1])
  let centered = h[t] - sum(h[t]) / H
  let normed = centered / sqrt(sum(centered * centered) / H + 0.00001) * gain
  y[t] = softmax(max(normed, 0))
}`;

const kernelsOf = (plan: LaunchPlan, phase: string) => plan.kernels.filter((k) => k.phase === phase && !k.persistent);

/** The plan with, in every kernel that has a whole-row tile, only the tiles `keep` takes. */
function tilesOnly(plan: LaunchPlan, keep: (v: PlanVariant) => boolean): LaunchPlan {
  return { ...plan, kernels: plan.kernels.map((k) => (k.variants.some((v) => v.wholeRows) ? { ...k, variants: k.variants.filter(keep) } : k)) };
}

/** The plan without its persistent kernel: the step kernels run, a dispatch each. */
const stepKernelsOnly = (plan: LaunchPlan): LaunchPlan => ({ ...plan, kernels: plan.kernels.filter((k) => !k.persistent) });

const materializedReductions = (cell: CellProgram) => [...schedule(cell).materialized.keys()].filter((id) => cell.eqns[id]!.op.startsWith('reduce_'));

describe('reductions over a row', () => {
  it("make a softmax readout one kernel after its matmul: minGRU's forward runs 4 kernels, not 7", () => {
    const cell = loadExample('mingru');
    const plan = buildLaunchPlan(cell);
    expect(materializedReductions(cell)).toEqual([]);
    const after = kernelsOf(plan, 'after');
    expect(after).toHaveLength(2);
    expect(after[1]!.variants.filter((v) => v.wholeRows)).toHaveLength(1);
    expect(after[0]!.variants.some((v) => v.wholeRows)).toBe(false); // the matmul's kernel computes no reduction
    expect(plan.kernels.filter((k) => !k.persistent)).toHaveLength(4);
  });

  it('fuse a layer norm with its neighbours in a cell of no known family, and stay kernels of their own in the step loop', () => {
    const cell = lowerSource(NORMED, 'normed.seq');
    const plan = buildLaunchPlan(cell);
    expect(materializedReductions(cell)).toEqual([]);
    // the readout: one kernel for every reduction and the softmax
    expect(kernelsOf(plan, 'after')).toHaveLength(1);
    const wgsl = plan.kernels.find((k) => k.phase === 'after')!.variants.find((v) => v.wholeRows)!.wgsl;
    // each reduction's loop runs before the loop over the row, none inside another
    const [beforeRow] = wgsl.split('for (var j0');
    expect(beforeRow!.match(/for \(var k/g)).toHaveLength(4);
    expect(wgsl.match(/for \(var/g)).toHaveLength(5);
  });

  it("make an attention decoder's softmax over its source one dispatch a step: seq2seq's decoder runs 6 step kernels, not 9", () => {
    const [, decoder] = lowerFile(readFileSync('examples/seq2seq.seq', 'utf8'), 'examples/seq2seq.seq').cells;
    expect(decoder!.name).toBe('Decoder');
    const plan = buildLaunchPlan(decoder!);
    expect(materializedReductions(decoder!)).toEqual([]);
    const steps = kernelsOf(plan, 'step');
    expect(steps).toHaveLength(6);
    expect(steps.filter((k) => k.variants.some((v) => v.wholeRows))).toHaveLength(1);
  });

  // the recurrence reads a reduction of the state: computed in the step kernel, or in the persistent one
  const IN_LOOP = NORMED.replace('h[t] = tanh(W @ x[t] + U @ h[t-1])', 'h[t] = tanh(W @ x[t] + U @ h[t-1] - sum(h[t-1]) / H)');
  const cases = [
    { name: 'minGRU', cell: () => loadExample('mingru'), dims: { T: 5, B: 3, sizes: { I: 6, H: 12, O: 10 } } },
    { name: 'the layer-normed cell', cell: () => lowerSource(NORMED, 'normed.seq'), dims: { T: 4, B: 5, sizes: { I: 7, H: 13 } } },
    { name: 'a cell whose recurrence reads a sum of its state', cell: () => lowerSource(IN_LOOP, 'normed.seq'), dims: { T: 4, B: 5, sizes: { I: 7, H: 13 } } },
  ];
  for (const c of cases) {
    for (const [tiles, keep] of [
      ['its whole-row tiles', (v: PlanVariant) => v.wholeRows === true],
      ['its column tiles, each reduction once per tile', (v: PlanVariant) => !v.wholeRows],
    ] as const) {
      it(`${c.name} on ${tiles} equals the float64 reference`, async () => {
        const cell = c.cell();
        const results = await gpuVersusReference(cell, c.dims, 5, stepKernelsOnly(tilesOnly(buildLaunchPlan(cell), keep)));
        for (const [name, r] of Object.entries(results)) expect(r.ok, `${name}: max abs ${r.maxAbs}`).toBe(true);
      });
    }
  }

  it('a cell whose recurrence reads a sum of its state equals the float64 reference in its persistent kernel', async () => {
    const cell = lowerSource(IN_LOOP, 'normed.seq');
    expect(materializedReductions(cell)).toEqual([]);
    const results = await gpuVersusReference(cell, { T: 4, B: 2, sizes: { I: 7, H: 13 } }, 9, persistentOnly(buildLaunchPlan(cell)));
    for (const [name, r] of Object.entries(results)) expect(r.ok, `${name}: max abs ${r.maxAbs}`).toBe(true);
  });
});
