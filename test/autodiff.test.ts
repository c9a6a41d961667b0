/**
 * Autodiff on the CPU: the backward program's float64 gradients of every parameter, input
 * and initial state equal central finite differences of the forward loss, for every example
 * cell and every loss (with padding weights), and for a cell reading h[t-2].
 */
import { describe, expect, it } from 'vitest';
import { lowerSource } from '../compiler/frontend.js';
import type { LossKind } from '../compiler/loss.js';
import { referenceGradients } from '../runtime/reference-grad.js';
import { loadExample } from './gpu-helpers.js';
import { finiteDifference, gradCase, probes, relativeError } from './grad-helpers.js';

const DIMS = { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5 } };
const EXAMPLES = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'gru-simple', 'lstm', 'lstm-simple', 'lstm-peephole', 'mingru'];

function checkAll(c: ReturnType<typeof gradCase>): number {
  const g = referenceGradients(c.program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B, initialState: c.initialState });
  let worst = 0;
  const check = (where: 'params' | 'inputs' | 'initialState', name: string, analytic: Float64Array) => {
    for (const i of probes(analytic.length)) {
      const numeric = finiteDifference(c, where, name, i);
      const error = relativeError(analytic[i]!, numeric);
      worst = Math.max(worst, error);
      expect(error, `${where} ${name}[${i}]: autodiff ${analytic[i]} vs finite difference ${numeric}`).toBeLessThan(1e-5);
    }
  };
  for (const [name, grad] of Object.entries(g.params)) check('params', name, grad);
  check('inputs', 'x', g.inputs['x']!);
  for (const [name, grad] of Object.entries(g.initialStates)) check('initialState', name, grad);
  return worst;
}

describe('reverse-mode autodiff equals finite differences (float64, CPU)', () => {
  it.each(EXAMPLES)('%s with softmax cross-entropy on its output', (name) => {
    const cell = loadExample(name);
    const output = cell.outputs.includes('y') ? 'y' : cell.outputs[0]!;
    checkAll(gradCase(cell, 'softmax-ce', output, DIMS, 3));
  });

  it.each(['mse', 'sigmoid-bce', 'softmax-ce'] as LossKind[])('every loss: %s on an LSTM', (loss) => {
    checkAll(gradCase(loadExample('lstm'), loss, 'h', DIMS, 5));
  });

  it('a cell with skips in time, concatenation, max/min and division', () => {
    const cell = lowerSource(
      `cell Odd(x: [I]) -> h, y {
         param W: [H, I + 2*H] = xavier
         param b: [H] = zeros
         param V: [O, H] = xavier
         state h: [H] = 0.5
         h[t] = tanh(W @ [x[t], h[t-1], h[t-2]] + b) / (1 + abs(h[t-2]))
         y[t] = max(V @ h[t], -0.2) * min(sum(h[t]), 1.5)
       }`,
      'odd.seq',
    );
    checkAll(gradCase(cell, 'mse', 'y', DIMS, 9));
  });
});
