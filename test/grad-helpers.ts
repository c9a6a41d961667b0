/** The gradient-check machinery lives in compiler/gradcheck.ts; tests use the same. */
import { expect } from 'vitest';
import { probes, relativeError } from '../compiler/gradcheck.js';

export { finiteDifference, gradCase, lossOf, probes, relativeError } from '../compiler/gradcheck.js';
export type { GradCase } from '../compiler/gradcheck.js';

/**
 * The GPU's gradient of every tensor of `tensors` against central differences of the float64
 * `loss` (which reads the tensors as they are when called), at `count` spread elements each,
 * within 1e-3 relative (absolute below 1e-3).
 */
export function expectFiniteDifferences(tensors: Record<string, Float64Array>, gpu: Readonly<Record<string, Float32Array>>, loss: () => number, label: string, count: number): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    for (const i of probes(tensor.length, count)) {
      const keep = tensor[i]!;
      tensor[i] = keep + 1e-6;
      const up = loss();
      tensor[i] = keep - 1e-6;
      const down = loss();
      tensor[i] = keep;
      const numeric = (up - down) / 2e-6;
      expect(relativeError(gpu[name]![i]!, numeric, 1e-3), `${label} ${name}[${i}]: gpu ${gpu[name]![i]} vs ${numeric}`).toBeLessThan(1e-3);
    }
  }
}
