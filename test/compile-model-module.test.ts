/**
 * `seqc compile` of a model: the emitted module is byte-identical across runs and writes a
 * plan that several layers run once; a plain Node script imports it, binds the sizes at
 * create time and gets the forward of the float64 reference of the whole model, then trains
 * it; TypeScript type-checks a consumer against the emitted .d.ts (and rejects a misuse).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/compile-model.js';
import { randomModelData, randomModelParams } from '../compiler/model-gradcheck.js';
import { modelReference } from '../compiler/model-reference.js';
import { Random } from '../runtime/init.js';
import { bindModelSpec } from '../runtime/model-spec.js';

// Inside the package, so the module's `seqc/runtime` import resolves by self-reference.
const dir = join('out', 'test-compile-model');
const seqc = (...args: string[]) => spawnSync(process.execPath, ['bin/seqc.js', ...args], { encoding: 'utf8' });
const TAGGER = readFileSync('examples/tagger.seq', 'utf8');
const SMALL = { V: 7, E: 3, H: 4, K: 5 };

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const compiled = seqc('compile', 'examples/tagger.seq', '-o', join(dir, 'tagger.js'));
  expect(compiled.status, compiled.stderr).toBe(0);
  expect(compiled.stdout).toMatch(/^wrote .*tagger\.js and .*tagger\.d\.ts \(model Tagger, 3 layers, \d+ kernels\)\n$/);
});

describe('seqc compile of a model', () => {
  it('writes the same bytes every time, each plan once, importing only the runtime', () => {
    const js = readFileSync(join(dir, 'tagger.js'));
    const dts = readFileSync(join(dir, 'tagger.d.ts'));
    expect(seqc('compile', 'examples/tagger.seq', '--model', 'Tagger', '-o', join(dir, 'tagger.js')).status).toBe(0);
    expect(readFileSync(join(dir, 'tagger.js')).equals(js)).toBe(true);
    expect(readFileSync(join(dir, 'tagger.d.ts')).equals(dts)).toBe(true);
    expect(js.toString()).not.toMatch(/from ["'](?!seqc\/runtime)/);
    // WordLSTM, LSTM and TagReadout: three forward plans, three training plans
    expect(js.toString().match(/^const plan\d+ =/gm)).toHaveLength(3);
    expect(js.toString().match(/^const training\d+ =/gm)).toHaveLength(3);

    // the four directions of a two-layer bidirectional stack run one cell: its plans are written once
    const deep = `cell RNN(x: [I]) -> h {
  param W: [H, I] = xavier
  param U: [H, H] = orthogonal
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + U @ h[t-1])
}
cell Readout(x: [I]) -> y {
  param W: [K, I] = xavier
  y[t] = W @ x[t]
}
model Deep(x: [N]) -> y {
  let b = stack(2, bidirectional(RNN))(x)
  y = Readout(b)
  loss mse(y)
}
`;
    writeFileSync(join(dir, 'deep.seq'), deep);
    const run = seqc('compile', join(dir, 'deep.seq'));
    expect(run.status, run.stderr).toBe(0);
    const deepJs = readFileSync(join(dir, 'deep.js'), 'utf8');
    expect(deepJs.match(/^const plan\d+ =/gm)).toHaveLength(2); // RNN, for any I, and Readout
    expect(deepJs).toContain('{ name: "b.0", plan: plan0, training: training0, sizes: {"I":[[1,"N"]],"H":[[1,"H"]]}, bidirectional: true }');
    expect(deepJs).toContain('{ name: "b.1", plan: plan0, training: training0, sizes: {"I":[[2,"H"]],"H":[[1,"H"]]}, bidirectional: true }');
  });

  it('refuses the options of a cell, and says which models a file has', () => {
    expect(seqc('compile', 'examples/tagger.seq', '--loss', 'mse', '-o', join(dir, 'x.js')).stderr).toMatch(/seqc: error: --loss goes with a cell/);
    expect(seqc('compile', 'examples/tagger.seq', '--model', 'Tager', '-o', join(dir, 'x.js')).stderr).toMatch(/no model named Tager/);
    // a cell of the file is still compiled on its own when named
    const cell = seqc('compile', 'examples/tagger.seq', '--cell', 'LSTM', '-o', join(dir, 'lstm.js'));
    expect(cell.status, cell.stderr).toBe(0);
    expect(cell.stdout).toContain('(cell LSTM,');
  });

  it('binds sizes when the model is created, and reports a missing or unknown one', () => {
    const spec = JSON.parse(JSON.stringify({ model: 'Tagger', sizes: [{ name: 'V' }, { name: 'H', default: 4 }], layers: [], head: { name: 'y', plan: { cell: 'R' }, training: {}, sizes: { I: [[2, 'H']], K: [[1, 'V'], [-1]] } } }));
    expect(bindModelSpec(spec, { V: 3 }).head.sizes).toEqual({ I: 8, K: 2 });
    expect(() => bindModelSpec(spec, {})).toThrow(/size V of model Tagger has no value: pass sizes: \{ V: <n> \}/);
    expect(() => bindModelSpec(spec, { V: 3, Q: 1 })).toThrow(/model Tagger has no size Q; its sizes are V, H/);
    expect(() => bindModelSpec(spec, { V: 1 })).toThrow(/layer y: size K of cell R is 0 with these sizes/);
  });

  it('runs the float64 reference\'s forward from a plain Node script, then trains', () => {
    const [T, B] = [5, 3];
    const compiled = compileModel(TAGGER, 'examples/tagger.seq', { sizes: SMALL });
    const random = new Random(5);
    const params = randomModelParams(compiled, random);
    const data = randomModelData(compiled, T, B, random);
    const f64 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]));
    const reference = modelReference(compiled.model, compiled.sizes)(f64, data);
    writeFileSync(join(dir, 'case.json'), JSON.stringify({ params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [...v]])), x: [...data.x], target: [...data.target], lengths: [...data.lengths] }));
    writeFileSync(
      join(dir, 'use.mjs'),
      `import { readFileSync } from 'node:fs';
import { createTagger } from './tagger.js';
import { releaseDevice } from 'seqc/runtime';
const c = JSON.parse(readFileSync(new URL('./case.json', import.meta.url), 'utf8'));
const tagger = await createTagger({ sizes: ${JSON.stringify(SMALL)}, batch: ${B}, training: { optimizer: { kind: 'adam', learningRate: 0.05 } } });
tagger.setParams(c.params);
const x = Float32Array.from(c.x), target = Float32Array.from(c.target);
const output = await tagger.forward(x, c.lengths);
const losses = [];
for (let s = 0; s < 40; s++) losses.push(await tagger.trainStep({ x, target, lengths: c.lengths }));
console.log(JSON.stringify({ output: [...output], first: losses[0], last: losses.at(-1) }));
tagger.dispose();
await releaseDevice();
`,
    );
    const run = spawnSync(process.execPath, [join(dir, 'use.mjs')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { output: number[]; first: number; last: number };
    expect(result.output).toHaveLength(reference.output.length);
    const error = Math.max(...result.output.map((v, i) => Math.abs(v - reference.output[i]!)));
    console.log(`compiled tagger module: forward max |gpu - float64| = ${error.toExponential(2)}; loss ${result.first.toFixed(4)} -> ${result.last.toFixed(4)} in 40 steps`);
    expect(error).toBeLessThan(1e-5);
    expect(Math.abs(result.first - reference.loss) / reference.loss).toBeLessThan(1e-5);
    expect(result.last).toBeLessThan(result.first / 2);
  });

  it('type-checks a consumer against the emitted .d.ts', () => {
    const tsc = (file: string, body: string) => {
      writeFileSync(join(dir, file), body);
      return spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node,@webgpu/types', '--skipLibCheck', join(dir, file)], { encoding: 'utf8' });
    };
    const good = tsc('good.mts', `import { createTagger, type TaggerSizes } from './tagger.js';
import type { LayeredModel } from 'seqc/runtime';
const size: TaggerSizes = 'H';
const tagger: LayeredModel = await createTagger({ sizes: { V: 10, [size]: 8 }, batch: 2 });
const y: Float32Array = await tagger.forward(new Float32Array(3 * 2), [3, 2]);
void y;
`);
    expect(good.status, good.stdout + good.stderr).toBe(0);
    const bad = tsc('bad.mts', `import { createTagger } from './tagger.js';
await createTagger({ sizes: { V: 10, Q: 8 }, batch: 2 });
`);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain("'Q'");
  });
});
