/**
 * `seqc gradcheck`'s check (compiler/gradcheck.ts, the function the CLI runs) on every example
 * cell at the two sizes the training issue names, for every loss, with padding masks; and on
 * truncated BPTT: the gradient of a window that starts from the state a stateful trainer
 * carried over, against finite differences of that window's float64 loss from the same state
 * held constant (what stopping the gradient at the border means).
 */
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type GradCase, finiteDifference, gradCase, gradcheck, lossOf, probes, relativeError } from '../compiler/gradcheck.js';
import type { CellProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { withLengths } from '../compiler/lengths.js';
import { type LossKind, TARGET, WEIGHT, defaultLoss } from '../compiler/loss.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { referenceForward } from '../runtime/reference.js';
import { Trainer } from '../runtime/trainer.js';
import { loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

const TOLERANCE = 1e-3;
// C, M, Y, X: a convolutional cell's input and state channels over a Y x X grid
const SMALL = { T: 5, B: 3, sizes: { I: 4, H: 6, O: 5, V: 7, E: 4, K: 5, S: 5, D: 6, C: 1, M: 2, Y: 4, X: 3 } };
const MEDIUM = { T: 8, B: 4, sizes: { I: 8, H: 32, O: 7, V: 9, E: 8, K: 7, S: 9, D: 12, C: 2, M: 3, Y: 5, X: 4 } };
const EXAMPLES = readdirSync('examples').filter((f) => f.endsWith('.seq')).map((f) => f.replace(/\.seq$/, ''));
const FOUNDATION = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'gru-simple', 'lstm', 'lstm-simple', 'lstm-peephole', 'mingru', 'charlm'];

async function expectGradcheck(cell: CellProgram, loss: LossKind, output: string, dims: typeof SMALL, seed: number): Promise<void> {
  const c = gradCase(cell, loss, output, dims, seed);
  const checks = await gradcheck(cell, c);
  expect(checks.length).toBeGreaterThan(cell.params.length);
  for (const check of checks) {
    const where = check.at ? ` at ${check.at.index}: gpu ${check.at.gpu} vs finite difference ${check.at.numeric}` : '';
    expect(check.worst, `${check.tensor}${where}`).toBeLessThanOrEqual(TOLERANCE);
  }
}

describe('gradcheck: GPU gradients against float64 finite differences', () => {
  it('covers every example', () => expect(EXAMPLES).toEqual(expect.arrayContaining(['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'gru-simple', 'lstm', 'lstm-simple', 'lstm-peephole', 'mingru', 'charlm', 'attention', 'multihead', 'bahdanau', 'convlstm'])));

  // the foundation's cells and the char LM at both sizes the training issue names; the composed
  // examples (attention, encoder-decoder, transformer, convolutions) at the small one, which is
  // enough to reach every op they add and keeps a cold CI run within its budget
  it.each(EXAMPLES.flatMap((name) => [[name, 'T=5 B=3 I=4 H=6', SMALL], ...(FOUNDATION.includes(name) ? [[name, 'T=8 B=4 I=8 H=32', MEDIUM] as const] : [])] as const))('%s, %s', async (name, _label, dims) => {
    const cell = loadExample(name);
    const { kind, output } = defaultLoss(cell);
    await expectGradcheck(cell, kind, output, dims, 5);
  });

  it.each([['lstm', 'T=5 B=3 I=4 H=6', SMALL], ['lstm', 'T=8 B=4 I=8 H=32', MEDIUM], ['gru', 'T=8 B=4 I=8 H=32', MEDIUM]] as const)('%s with per-sequence lengths, %s', async (name, _label, dims) => {
    // states hold past each sequence's length; the loss counts only the steps within it
    await expectGradcheck(withLengths(loadExample(name)), 'mse', 'h', dims, 9);
  });

  it.each(['mse', 'sigmoid-bce', 'softmax-ce'] as const)('lstm with %s', async (loss) => {
    await expectGradcheck(loadExample('lstm'), loss, 'h', SMALL, 7);
  });

  it('truncated BPTT: a window from the carried state, the gradient stopped at its border', async () => {
    const cell = loadExample('lstm');
    const spec = { kind: 'mse' as const, output: 'h' };
    const first = gradCase(cell, spec.kind, spec.output, SMALL, 11);
    const second = gradCase(cell, spec.kind, spec.output, SMALL, 12);
    const { T, B } = first;
    // the state window 1 ends in, in float64: where window 2 starts
    const end = referenceForward(first.program.forward, { params: first.params, inputs: first.inputs, sizes: first.sizes, T, B, initialState: first.initialState });
    const carried: GradCase = { ...second, params: first.params, initialState: end.finalStates };
    const model = await createModel(buildLaunchPlan(cell), { sizes: first.sizes, batch: B });
    // a zero learning rate keeps the parameters fixed between the windows
    const trainer = await Trainer.create(model, buildTrainingPlans(cell, spec), { optimizer: { kind: 'sgd', learningRate: 0 }, stateful: true });
    const batch = (c: GradCase) => ({
      inputs: Float32Array.from(c.inputs['x']!),
      target: Float32Array.from(c.inputs[TARGET]!),
      mask: Float32Array.from(c.inputs[WEIGHT]!, (w) => (w > 0 ? 1 : 0)),
    });
    try {
      model.setParams(first.params);
      await trainer.step({ ...batch(first), initialState: first.initialState });
      const g = await trainer.gradients(batch(second));
      expect(relativeError(g.loss, lossOf(carried))).toBeLessThan(1e-5);
      for (const p of cell.params) {
        for (const i of probes(carried.params[p.name]!.length)) {
          const numeric = finiteDifference(carried, 'params', p.name, i);
          expect(relativeError(g.params[p.name]![i]!, numeric, 1e-3), `${p.name}[${i}]`).toBeLessThanOrEqual(TOLERANCE);
        }
      }
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});
