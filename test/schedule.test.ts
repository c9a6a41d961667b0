/**
 * Where the schedule computes a cell's products: a product of the carried state joins the
 * earliest kernel that already multiplies the same vector, for any cell, and the result still
 * equals the float64 reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { schedule } from '../compiler/schedule.js';
import { releaseDevice } from '../runtime/index.js';
import { gpuVersusReference, loadExample, persistentOnly } from './gpu-helpers.js';

afterAll(releaseDevice);

/** The names of the weights whose products each step kernel computes or keeps, by level. */
function keptProducts(cell: CellProgram): Record<number, string[]> {
  const scheduled = schedule(cell);
  const byLevel: Record<number, string[]> = {};
  for (const [id, m] of scheduled.materialized) {
    const e = cell.eqns[id]!;
    if (m.phase !== 'step' || e.op !== 'matmul') continue;
    (byLevel[m.level] ??= []).push(cell.eqns[e.args[0]!]!.attrs.name!);
  }
  return byLevel;
}

// A cell of no known family: B's product of h waits for nothing, but only the kernel after
// C's product of (g * h) reads it.
const GATED = `cell Gated(x: [I]) -> h {
  param W: [H, I] = xavier
  param A, B, C: [H, H] = orthogonal
  state h: [H] = 0
  let g = sigmoid(A @ h[t-1])
  let m = tanh(C @ (g * h[t-1]) + W @ x[t])
  h[t] = sigmoid(B @ h[t-1]) * m + (1 - sigmoid(B @ h[t-1])) * h[t-1]
}`;

describe('products of the state', () => {
  it("join the kernel that already multiplies their vector: a GRU's update gate beside its reset gate", () => {
    expect(keptProducts(loadExample('gru'))).toEqual({ 0: ['Uz'] });
    const gru = buildLaunchPlan(loadExample('gru')).kernels.filter((k) => k.phase === 'step' && !k.persistent);
    expect(gru).toHaveLength(2);
    // Uz @ h is computed by the first step kernel (beside Ur @ h, one loop over h) and read by the second
    const [first, second] = gru.map((k) => k.variants[0]!.wgsl);
    expect(first).toMatch(/offset of Uz/);
    expect(first!.match(/for \(var k/g)).toHaveLength(1);
    expect(second!.match(/for \(var k/g)).toHaveLength(1);
    expect(keptProducts(lowerSource(GATED, 'gated.seq'))).toEqual({ 0: ['B'] });
  });

  it('stay where they are when no earlier kernel multiplies their vector', () => {
    expect(keptProducts(loadExample('lstm'))).toEqual({});
    expect(keptProducts(loadExample('gru-reset-after'))).toEqual({});
    // C's vector is (g * h), which only the second kernel has: nothing moves
    const later = GATED.replace('sigmoid(B @ h[t-1])', 'sigmoid(B @ (g * h[t-1]))').replace('(1 - sigmoid(B @ h[t-1]))', '(1 - sigmoid(B @ (g * h[t-1])))');
    expect(keptProducts(lowerSource(later, 'later.seq'))).toEqual({});
  });

  it.each([
    ['stepped', (plan: ReturnType<typeof buildLaunchPlan>) => ({ ...plan, kernels: plan.kernels.filter((k) => !k.persistent) })],
    ['persistent', (plan: ReturnType<typeof buildLaunchPlan>) => persistentOnly(plan)],
  ] as const)('a cell with a moved product equals the float64 reference, %s', async (_label, only) => {
    const cell = lowerSource(GATED, 'gated.seq');
    const results = await gpuVersusReference(cell, { T: 6, B: 3, sizes: { I: 5, H: 7 } }, 17, only(buildLaunchPlan(cell)));
    for (const [what, c] of Object.entries(results)) expect(c.ok, `${what}: max abs ${c.maxAbs}`).toBe(true);
  });
});
