/**
 * Every example cell on the WebGPU device found (llvmpipe in CI) against the float64 CPU
 * reference, on fresh random weights, inputs and initial states, within 1e-5 (abs + rel).
 * No adapter is a failure, never a skip.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { releaseDevice } from '../runtime/index.js';
import { gpuVersusReference, loadExample } from './gpu-helpers.js';

const EXAMPLES = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'gru-simple', 'lstm', 'lstm-simple', 'lstm-peephole', 'mingru'];
const SMALL = { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5 } };
const BIG = { T: 64, B: 32, sizes: { I: 128, H: 256, O: 64 } };

afterAll(releaseDevice);

describe.each(EXAMPLES)('%s on the GPU equals the float64 reference', (name) => {
  it.each([
    ['small (T=5, B=3, I=4, H=6)', SMALL, 11],
    ['big (T=64, B=32, I=128, H=256)', BIG, 12],
  ] as const)('%s', async (_label, sizes, seed) => {
    const results = await gpuVersusReference(loadExample(name), sizes, seed);
    for (const [what, c] of Object.entries(results)) {
      expect(c.ok, `${what}: max abs ${c.maxAbs}, worst ${JSON.stringify(c.worst)}`).toBe(true);
    }
  });
});

describe('cells beyond the examples', () => {
  it('reads further back in time (h[t-2]) and concatenates', async () => {
    const { lowerSource } = await import('../compiler/frontend.js');
    const program = lowerSource(
      `cell Skip(x: [I]) -> h, y {
         param W: [H, I + 2*H] = xavier
         param b: [H] = zeros
         param V: [O, H] = xavier
         state h: [H] = 0.5
         h[t] = tanh(W @ [x[t], h[t-1], h[t-2]] + b)
         y[t] = softmax(V @ h[t]) * 2 - sum(h[t]) / 4
       }`,
      'skip.seq',
    );
    const results = await gpuVersusReference(program, SMALL, 21);
    for (const [what, c] of Object.entries(results)) expect(c.ok, what).toBe(true);
  });
});
