/**
 * The model form (`model M(x) -> y { ... }`, docs/language.md "Models"): it compiles to the
 * layer specs a hand assembly gives runtime/layered.ts; on the WebGPU device found, its
 * forward equals a float64 reference of the whole model run one sequence at a time (each cut
 * to its length, the reverse direction reading it backwards from its last valid step), and
 * its gradients equal float64 finite differences of the whole model's loss. Located errors
 * of models are in test/errors.test.ts with every other diagnostic.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompiledModel, bindModelSizes, compileModel, selectModel } from '../compiler/compile-model.js';
import { lowerFile, lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { printProgram } from '../compiler/ir.js';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { withLengths } from '../compiler/lengths.js';
import { layeredModelFromSource } from '../compiler/layered-from-source.js';
import { modelGradcheck, randomModelData, randomModelParams } from '../compiler/model-gradcheck.js';
import { modelReference } from '../compiler/model-reference.js';
import { buildTrainingPlans } from '../compiler/training.js';
import { SeqError } from '../dsl/diagnostics.js';
import { Random } from '../runtime/init.js';
import { releaseDevice } from '../runtime/index.js';
import { LayeredModel } from '../runtime/layered.js';
import { runSeqc } from './run-seqc.js';

afterAll(releaseDevice);

const TAGGER = readFileSync('examples/tagger.seq', 'utf8');
const SMALL = { V: 7, E: 3, H: 4, K: 5 };
const [T, B] = [5, 3];

/** Cells of several kinds, as layers: a forward stack (inlined), a skip in time (no lengths), two bidirectional layers. */
const DEEP = `
cell RNN(x: [I]) -> h {
  param W: [H, I] = xavier
  param U: [H, H] = orthogonal
  param b: [H] = zeros
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + U @ h[t-1] + b)
}
cell Skip(x: [I]) -> h {
  param W: [H, I] = xavier
  param U1, U2: [H, H] = orthogonal
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + U1 @ h[t-1] + U2 @ h[t-2])
}
cell Readout(x: [I]) -> y {
  param W: [K, I] = xavier
  y[t] = W @ x[t]
}
model Deep(x: [N]) -> y {
  let s = stack(2, RNN)(x)
  let b = stack(2, bidirectional(Skip))(s)
  y = Readout(b)
  loss mse(y)
}
`;

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

describe('compiling a model', () => {
  it('gives the layer specs the hand assembly of bench/pos-tagger.mjs gave', () => {
    const compiled = compileModel(TAGGER, 'examples/tagger.seq', { sizes: SMALL });
    const cell = (name: string): CellProgram => withLengths(lowerSource(TAGGER, 'examples/tagger.seq', name));
    const layer = (program: CellProgram, sizes: Record<string, number>, kind: 'cotangent' | 'softmax-ce') => ({ plan: buildLaunchPlan(program), training: buildTrainingPlans(program, { kind, output: program.outputs[0]! }), sizes });
    const { V, E, H, K } = SMALL;
    const hand = {
      layers: [{ ...layer(cell('WordLSTM'), { V, E, H }, 'cotangent'), bidirectional: true }, { ...layer(cell('LSTM'), { I: 2 * H, H }, 'cotangent'), bidirectional: true }],
      head: layer(cell('TagReadout'), { I: 2 * H, K }, 'softmax-ce'),
    };
    const spec = ({ plan, training, sizes, bidirectional }: CompiledModel['head']) => ({ plan, training, sizes, ...(bidirectional ? { bidirectional } : {}) });
    expect(compiled.layers.map(spec)).toEqual(hand.layers);
    expect(spec(compiled.head)).toEqual(hand.head);
    expect(compiled.sizes).toEqual(SMALL);
    expect(compiled.loss).toEqual({ kind: 'softmax-ce', output: 'y' });
  });

  it('takes the defaults of the cells and of the model, and reports a size with no value where it first appears', () => {
    const tagger = selectModel(lowerFile(TAGGER, 'tagger.seq'), 'tagger.seq');
    expect(bindModelSizes(tagger, { V: 9 }, 'tagger.seq')).toEqual({ V: 9, E: 64, H: 64, K: 12 });
    expect(() => compileModel(TAGGER, 'tagger.seq', { sizes: { V: 9, Q: 2 } })).toThrow(/model Tagger has no size Q; its sizes are V, E, H, K/);
    let error: unknown;
    try {
      compileModel(TAGGER, 'tagger.seq');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SeqError);
    const header = (error as SeqError).format(TAGGER).split('\n')[0]!;
    const lines = TAGGER.split('\n');
    const line = lines.findIndex((l) => l.includes('model Tagger(')) + 1;
    expect(header).toBe(`tagger.seq:${line}:${lines[line - 1]!.indexOf('[V]') + 2}: error: size V is never given a value`);
  });

  it('inlines a forward stack into the cell a hand-written stack would be, and compiles a cell that several layers run once', () => {
    const { models } = lowerFile(DEEP, 'deep.seq');
    const deep = models[0]!;
    expect(deep.layers.map((l) => `${l.name}: ${l.bidirectional ? 'bidirectional ' : ''}${l.cell.name}(${l.cell.sizes.map((s) => `${s.name}=${l.sizes.get(s.name)}`).join(', ')}) -> [${l.output}]`)).toEqual([
      's: Deep.s(I=N, H=H) -> [H]',
      'b.0: bidirectional Skip(I=H, H=H) -> [2*H]',
      'b.1: bidirectional Skip(I=2*H, H=H) -> [2*H]',
      'y: Readout(I=2*H, K=K) -> [K]',
    ]);
    const written = lowerSource(`${DEEP.slice(0, DEEP.indexOf('model'))}cell Stack(x: [I]) -> s {\n  s[t] = stack(2, RNN)(x[t])\n}\n`, 'deep.seq', 'Stack');
    expect(printProgram(deep.layers[0]!.cell).replace('Deep.s', 'Stack')).toBe(printProgram(written));
    const compiled = compileModel(DEEP, 'deep.seq', { sizes: { N: 3, H: 4, K: 2 } });
    expect(compiled.layers[1]!.plan).toBe(compiled.layers[2]!.plan);
    // h[t-2] keeps a ring of past states, which lengths cannot hold: compiled without them
    expect(compiled.layers[1]!.program.inputs.map((i) => i.name)).toEqual(['x']);
    expect(compiled.layers[0]!.program.inputs.map((i) => i.name)).toEqual(['x', '__valid']);
  });
});

describe('a model on the device, with per-sequence lengths', () => {
  const LENGTHS = Int32Array.of(5, 1, 3);

  it.each([
    ['the tagger (examples/tagger.seq)', TAGGER, SMALL],
    ['a forward stack, a skip in time and two bidirectional layers', DEEP, { N: 3, H: 4, K: 2 }],
  ] as const)('%s: forward within 1e-5 of the float64 reference, which does not change the parameters when asked for gradients', async (_label, source, sizes) => {
    const compiled = compileModel(source, 'model.seq', { sizes });
    const random = new Random(3);
    const params = randomModelParams(compiled, random);
    const data = { ...randomModelData(compiled, T, B, random), lengths: LENGTHS };
    const model = await LayeredModel.create(compiled.layers, compiled.head, { batch: B });
    try {
      model.setParams(params);
      const gpu = await model.forward(data.x, LENGTHS);
      const f64 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));
      const reference = modelReference(compiled.model, compiled.sizes)(f64, data);
      const error = maxDiff(gpu, reference.output);
      console.log(`${_label}: forward max |gpu - float64| = ${error.toExponential(2)}`);
      expect(error).toBeLessThan(1e-5);
      const { loss } = await model.gradients({ x: data.x, target: data.target, lengths: LENGTHS });
      expect(Math.abs(loss - reference.loss) / Math.abs(reference.loss)).toBeLessThan(1e-5);
      const after = await model.getParams();
      for (const [name, value] of Object.entries(params)) expect(after[name], name).toEqual(value);
    } finally {
      model.dispose();
    }
  });

  it.each([
    ['the tagger', TAGGER, SMALL, 11],
    ['the deep model', DEEP, { N: 3, H: 4, K: 2 }, 12],
  ] as const)('%s: every parameter of every layer and direction within 1e-3 of float64 finite differences of the whole loss', async (label, source, sizes, seed) => {
    const compiled = compileModel(source, 'model.seq', { sizes });
    const { checks, lengths } = await modelGradcheck(compiled, { T, B, seed, probes: 6 });
    expect([...lengths].some((n) => n < T)).toBe(true);
    const worst = Math.max(...checks.map((c) => c.worst));
    console.log(`${label}: ${checks.length - 1} tensors, ${checks.reduce((n, c) => n + c.checked, 0)} probes, worst relative error ${worst.toExponential(2)}`);
    const expectedTensors = compiled.layers.reduce((n, l) => n + l.program.params.length * (l.bidirectional ? 2 : 1), compiled.head.program.params.length);
    expect(checks.length).toBe(expectedTensors + 1);
    for (const c of checks) expect(c.worst, `${c.tensor}${c.at ? ` at ${c.at.index}: gpu ${c.at.gpu} vs finite difference ${c.at.numeric}` : ''}`).toBeLessThanOrEqual(1e-3);
  });

  it('layeredModelFromSource builds the model in one call', async () => {
    const model = await layeredModelFromSource(TAGGER, 'examples/tagger.seq', { sizes: SMALL, batch: B, seed: 1 });
    try {
      expect(model.layers.map((l) => l.models.length)).toEqual([2, 2]);
      expect(Object.keys(await model.getParams())).toEqual(['0.forward.Emb', '0.forward.h.W', '0.forward.h.U', '0.forward.h.b', '0.reverse.Emb', '0.reverse.h.W', '0.reverse.h.U', '0.reverse.h.b', '1.forward.W', '1.forward.U', '1.forward.b', '1.reverse.W', '1.reverse.U', '1.reverse.b', 'head.W', 'head.b']);
    } finally {
      model.dispose();
    }
  });
});

describe('seqc and models', () => {
  it('check names the model; ir prints its layers', async () => {
    const check = await runSeqc('check', 'examples/tagger.seq');
    expect(check.stdout).toBe('examples/tagger.seq: ok (LSTM, WordLSTM, TagReadout, model Tagger)\n');
    const ir = await runSeqc('ir', 'examples/tagger.seq');
    expect(ir.stdout).toContain('model Tagger sizes(V, E=64, H=64, K=12) -> (tags), loss softmax-ce on TagReadout.y\n  input words: onehot[B, V]\n  layer l0 = bidirectional WordLSTM(V=V, E=E, H=H): f32[B, 2*H]\n  layer l1 = bidirectional LSTM(I=2*H, H=H): f32[B, 2*H]\n  layer tags = TagReadout(I=2*H, K=K): f32[B, K]\n');
  });

  it('gradcheck checks a file\'s model by default, and refuses the options of a cell', async () => {
    const run = await runSeqc('gradcheck', 'examples/tagger.seq', '--size', 'V=6', '--size', 'E=3', '--size', 'H=3', '--size', 'K=4');
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^gradcheck model Tagger: loss softmax-ce on tags, sizes V=6 E=3 H=3 K=4, T=5, B=3, lengths 5 \d \d, seed 1$/m);
    expect(run.stdout).toMatch(/^ {2}1\.reverse\.U\s+24\s+\d\.\d\de-\d+ ok$/m);
    expect(run.stdout).toMatch(/^PASS/m);
    expect((await runSeqc('gradcheck', 'examples/tagger.seq', '--loss', 'mse')).stderr).toMatch(/seqc: error: --loss goes with a cell/);
    expect((await runSeqc('gradcheck', 'examples/tagger.seq', '--model', 'Tager')).stderr).toMatch(/no model named Tager/);
  });
});
