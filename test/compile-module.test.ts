/**
 * `seqc compile` end to end: the emitted module is byte-identical across runs, a plain Node
 * script imports it and runs a forward pass, and TypeScript type-checks a consumer against
 * the emitted .d.ts (and rejects a misuse).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// Inside the package, so the module's `seqc/runtime` import resolves by self-reference.
const dir = join('out', 'test-compile');
const seqc = (...args: string[]) => spawnSync(process.execPath, ['bin/seqc.js', ...args], { encoding: 'utf8' });

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
});

describe('seqc compile', () => {
  it('writes the same bytes every time', () => {
    const first = seqc('compile', 'examples/lstm.seq', '-o', join(dir, 'lstm.js'));
    expect(first.status, first.stderr).toBe(0);
    const js = readFileSync(join(dir, 'lstm.js'));
    const dts = readFileSync(join(dir, 'lstm.d.ts'));
    const second = seqc('compile', 'examples/lstm.seq', '-o', join(dir, 'lstm.js'));
    expect(second.status).toBe(0);
    expect(readFileSync(join(dir, 'lstm.js')).equals(js)).toBe(true);
    expect(readFileSync(join(dir, 'lstm.d.ts')).equals(dts)).toBe(true);
    expect(js.toString()).toContain("from \"seqc/runtime\"");
    expect(js.toString()).not.toMatch(/from ["'](?!seqc\/runtime)/);
  });

  it('runs a forward pass from a plain Node script', () => {
    seqc('compile', 'examples/lstm.seq', '-o', join(dir, 'lstm.js'));
    writeFileSync(
      join(dir, 'use.mjs'),
      `import { createLSTM } from './lstm.js';
import { releaseDevice } from 'seqc/runtime';
const T = 3, B = 2, I = 4, H = 5;
const lstm = await createLSTM({ sizes: { I, H }, batch: B, seed: 7 });
const x = Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i));
const { outputs, states } = await lstm.forward(x);
const W = await lstm.getParam('W');
console.log(JSON.stringify({ h: outputs.h.length, c: states.c.length, W: W.length, finite: outputs.h.every(Number.isFinite), nonzero: outputs.h.some((v) => v !== 0) }));
lstm.dispose();
await releaseDevice();
`,
    );
    const run = spawnSync(process.execPath, [join(dir, 'use.mjs')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(result).toEqual({ h: 3 * 2 * 5, c: 2 * 5, W: 4 * 5 * 4, finite: true, nonzero: true });
  });

  it('trains from a plain Node script when compiled with --loss', () => {
    const compiled = seqc('compile', 'examples/rnn.seq', '-o', join(dir, 'rnn.js'), '--loss', 'mse:h');
    expect(compiled.status, compiled.stderr).toBe(0);
    expect(readFileSync(join(dir, 'rnn.d.ts'), 'utf8')).toContain('export declare const training: TrainingPlans;');
    writeFileSync(
      join(dir, 'train.mjs'),
      `import { createElmanRNN } from './rnn.js';
import { releaseDevice } from 'seqc/runtime';
const T = 6, B = 2, I = 3, H = 4;
const rnn = await createElmanRNN({ sizes: { I, H }, batch: B, seed: 3, training: { optimizer: { kind: 'adam', learningRate: 0.05 } } });
const x = Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i));
const target = Float32Array.from({ length: T * B * H }, (_, i) => 0.5 * Math.cos(i));
const losses = [];
for (let s = 0; s < 60; s++) losses.push(await rnn.trainStep({ x, target }));
const g = await rnn.gradients({ x, target });
console.log(JSON.stringify({ first: losses[0], last: losses.at(-1), loss: rnn.loss, dU: g.params.U.length }));
rnn.dispose();
await releaseDevice();
`,
    );
    const run = spawnSync(process.execPath, [join(dir, 'train.mjs')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(result.last).toBeLessThan(result.first / 3);
    expect(result.loss).toBe(result.last);
    expect(result.dU).toBe(16);
  });

  it('type-checks a consumer against the emitted .d.ts', () => {
    seqc('compile', 'examples/lstm.seq', '-o', join(dir, 'lstm.js'));
    const tsc = (file: string, body: string) => {
      writeFileSync(join(dir, file), body);
      return spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node,@webgpu/types', '--skipLibCheck', join(dir, file)], { encoding: 'utf8' });
    };
    const good = tsc('good.mts', `import { createLSTM, type LSTMModel } from './lstm.js';
const lstm: LSTMModel = await createLSTM({ sizes: { I: 4, H: 8 }, batch: 2 });
const r = await lstm.forward(new Float32Array(3 * 2 * 4));
const h: Float32Array = r.outputs.h;
const c: Float32Array = r.states.c;
lstm.setParam('U', new Float32Array(4 * 8 * 8));
void h; void c;
`);
    expect(good.status, good.stdout + good.stderr).toBe(0);
    const bad = tsc('bad.mts', `import { createLSTM } from './lstm.js';
const lstm = await createLSTM({ sizes: { I: 4, K: 8 } });
lstm.setParam('V', new Float32Array(1));
`);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain("'K'");
    expect(bad.stdout).toContain('"V"');
  });
});
