/**
 * Linear recurrences run as a parallel scan over time: which cells the compiler finds, and
 * that the scan equals the float64 reference and the sequential schedule, forward and in the
 * backward pass, at lengths shorter than, equal to and longer than the scan's time lanes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { SCAN_TILES } from '../compiler/wgsl-scan.js';
import { releaseDevice } from '../runtime/index.js';
import type { LaunchPlan } from '../runtime/plan.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

/** The plan with its scan kernels' tile fixed: the runtime would pick one by the sizes. */
function onlyScanTile(plan: LaunchPlan, timeLanes: number): LaunchPlan {
  return { ...plan, kernels: plan.kernels.map((k) => (k.phase === 'scan' ? { ...k, variants: k.variants.filter((v) => v.rows === timeLanes) } : k)) };
}

/** The plan with its scan kernels' twin alone, the one that reads and writes four elements at a time. */
function onlyVectorScan(plan: LaunchPlan): LaunchPlan {
  return { ...plan, kernels: plan.kernels.map((k) => (k.phase === 'scan' ? { ...k, variants: k.variants.filter((v) => v.aligned !== undefined) } : k)) };
}

const phases = (source: string) => buildLaunchPlan(lowerSource(source, 'cell.seq')).kernels.map((k) => k.phase);

const TWO_STATES = `cell Leaky(x: [I]) -> h, c, y {
  param W: [H, I] = xavier
  param Wc: [2*H, I] = xavier
  param decay: [2*H] = uniform(1)
  param V: [O, H] = xavier
  state h: [H] = 0
  state c: [2*H] = 0
  let a = sigmoid(W @ x[t])
  h[t] = a * h[t-1] - (a - 1) * tanh(W @ x[t]) / 2
  c[t] = -(sigmoid(decay) * (0 - c[t-1])) + Wc @ x[t]
  y[t] = V @ (h[t] * h[t-1]) + sum(c[t])
}`;

describe('the compiler finds linear recurrences', () => {
  it('minGRU and cells affine in their own state scan; cells nonlinear in it do not', () => {
    const mingru = buildLaunchPlan(loadExample('mingru')).kernels.map((k) => k.phase);
    expect(mingru.filter((p) => p === 'scan')).toHaveLength(1);
    expect(mingru).not.toContain('step');
    expect(phases(TWO_STATES).filter((p) => p === 'scan')).toHaveLength(1);
    for (const name of ['rnn', 'gru', 'lstm', 'lstm-peephole', 'gru-simple']) {
      expect(buildLaunchPlan(loadExample(name)).kernels.some((k) => k.phase === 'scan'), name).toBe(false);
    }
    const notLinear = [
      'h[t] = h[t-1] * h[t-1] + x[t]',
      'h[t] = tanh(h[t-1]) + x[t]',
      'h[t] = x[t] / h[t-1]',
      'h[t] = h[t-2] * 0.5 + x[t]',
    ];
    for (const update of notLinear) {
      const kernels = phases(`cell C(x: [H]) -> h {\n  state h: [H] = 0\n  ${update}\n}`);
      expect(kernels, update).toContain('step');
      expect(kernels, update).not.toContain('scan');
    }
    // two states feeding each other are one recurrence, not two linear ones
    expect(phases(`cell C(x: [H]) -> h {\n  state h: [H] = 0\n  state c: [H] = 0\n  c[t] = c[t-1] * 0.5 + x[t]\n  h[t] = h[t-1] * 0.5 + c[t]\n}`)).not.toContain('scan');
    expect(buildLaunchPlan(loadExample('mingru'), { recurrence: 'sequential' }).kernels.map((k) => k.phase)).toContain('step');
  });
});

describe('the scan on the GPU equals the float64 reference', () => {
  const cases = [
    ['minGRU, T=5 (fewer steps than time lanes)', 'mingru', { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5 } }],
    ['minGRU, T=32', 'mingru', { T: 32, B: 2, sizes: { I: 3, H: 9, O: 4 } }],
    ['minGRU, T=203 (uneven chunks)', 'mingru', { T: 203, B: 3, sizes: { I: 5, H: 7, O: 3 } }],
  ] as const;
  it.each(cases)('%s, with each scan tile and sequentially', async (_label, name, sizes) => {
    const cell = loadExample(name);
    const scanned = buildLaunchPlan(cell);
    const plans = {
      ...Object.fromEntries(SCAN_TILES.map((tile) => [`${tile.rows} time lanes`, onlyScanTile(scanned, tile.rows)])),
      sequential: buildLaunchPlan(cell, { recurrence: 'sequential' }),
    };
    for (const [schedule, plan] of Object.entries(plans)) {
      const results = await gpuVersusReference(cell, sizes, 31, plan);
      for (const [what, c] of Object.entries(results)) expect(c.ok, `${schedule}, ${what}: max abs ${c.maxAbs}`).toBe(true);
    }
  });
  it.each([
    ['minGRU, T=37', 'mingru', { T: 37, B: 3, sizes: { I: 5, H: 12, O: 3 } }],
    ['minGRU, T=2, H=36 (two workgroups, the second partly past the width)', 'mingru', { T: 2, B: 2, sizes: { I: 3, H: 36, O: 3 } }],
  ] as const)('%s, four elements per load and per store', async (_label, name, sizes) => {
    const cell = loadExample(name);
    const scan = buildLaunchPlan(cell).kernels.find((k) => k.phase === 'scan')!;
    // the twin comes first: the runtime takes it wherever H is a multiple of 4
    expect(scan.variants[0]).toMatchObject({ rows: 1, aligned: [[[1, 'H']]] });
    expect(scan.variants[0]!.wgsl).toContain('= vec4<f32>(');
    const results = await gpuVersusReference(cell, sizes, 33, onlyVectorScan(buildLaunchPlan(cell)));
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max abs ${c.maxAbs}`).toBe(true);
  });
  it('two linear states of different widths, four elements per load, T=70', async () => {
    const cell = lowerSource(TWO_STATES, 'leaky.seq');
    const results = await gpuVersusReference(cell, { T: 70, B: 2, sizes: { I: 3, H: 4, O: 2 } }, 34, onlyVectorScan(buildLaunchPlan(cell)));
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max abs ${c.maxAbs}`).toBe(true);
  });
  it('two linear states of different widths, T=70, with each scan tile', async () => {
    const cell = lowerSource(TWO_STATES, 'leaky.seq');
    for (const tile of SCAN_TILES) {
      const results = await gpuVersusReference(cell, { T: 70, B: 2, sizes: { I: 3, H: 5, O: 2 } }, 32, onlyScanTile(buildLaunchPlan(cell), tile.rows));
      for (const [what, c] of Object.entries(results)) expect(c.ok, `${tile.rows} time lanes, ${what}: max abs ${c.maxAbs}`).toBe(true);
    }
  });
});
