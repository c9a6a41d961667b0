/** Saving and loading a model's parameters as safetensors. */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { encodeSafetensors } from '../runtime/safetensors.js';
import { createModel, releaseDevice } from '../runtime/index.js';
import { loadExample } from './gpu-helpers.js';

afterAll(releaseDevice);

describe('model parameters as safetensors', () => {
  const plan = buildLaunchPlan(loadExample('lstm'));
  const dir = mkdtempSync(join(tmpdir(), 'seqc-io-'));

  it('round-trips byte for byte, and another model loads the same numbers', async () => {
    const a = await createModel(plan, { sizes: { I: 3, H: 5 }, seed: 1 });
    const b = await createModel(plan, { sizes: { I: 3, H: 5 }, seed: 2 });
    try {
      await a.save(join(dir, 'a.safetensors'));
      await b.load(join(dir, 'a.safetensors'));
      await b.save(join(dir, 'b.safetensors'));
      expect(readFileSync(join(dir, 'b.safetensors')).equals(readFileSync(join(dir, 'a.safetensors')))).toBe(true);
      expect(await b.getParam('U')).toEqual(await a.getParam('U'));
      expect(Buffer.from(await a.toSafetensors()).equals(readFileSync(join(dir, 'a.safetensors')))).toBe(true);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('rejects files that do not fit the cell, naming the problem', async () => {
    const m = await createModel(plan, { sizes: { I: 3, H: 5 } });
    try {
      const good = await m.toSafetensors();
      const wrongShape = await createModel(plan, { sizes: { I: 4, H: 5 } });
      await expect(wrongShape.load(good)).rejects.toThrow(/parameter W has shape \[20, 3\], the cell has \[20, 4\]/);
      wrongShape.dispose();
      const f64 = encodeSafetensors({ W: { dtype: 'F64', shape: [20, 3], data: new Float64Array(60) } });
      await expect(m.load(f64)).rejects.toThrow(/not parameters|missing|F64/);
      const missing = encodeSafetensors({ W: { dtype: 'F32', shape: [20, 3], data: new Float32Array(60) } });
      await expect(m.load(missing)).rejects.toThrow(/parameter U is missing/);
      writeFileSync(join(dir, 'truncated.safetensors'), good.slice(0, good.length - 5));
      await expect(m.load(join(dir, 'truncated.safetensors'))).rejects.toThrow(/truncated\.safetensors/);
    } finally {
      m.dispose();
    }
  });
});

describe('initializers', () => {
  it('blocks(...) fills equal blocks of the first dimension (an LSTM forget-gate bias)', async () => {
    const { lowerSource } = await import('../compiler/frontend.js');
    const cell = lowerSource(
      `cell L(x: [I]) -> h {
         param W: [4*H, I] = xavier
         param b: [4*H] = blocks(0, 1, 0, -2.5)
         state h: [H] = 0
         let i, f, g, o = split(W @ x[t] + b, 4)
         h[t] = sigmoid(f) * h[t-1] + sigmoid(i) * tanh(g) * sigmoid(o)
       }`,
      'l.seq',
    );
    const model = await createModel(buildLaunchPlan(cell), { sizes: { I: 2, H: 3 } });
    try {
      expect(Array.from(await model.getParam('b'))).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, -2.5, -2.5, -2.5]);
    } finally {
      model.dispose();
    }
  });

  it('blocks(...) must split the first dimension evenly, or the error says where', async () => {
    const { lowerSource } = await import('../compiler/frontend.js');
    const source = 'cell L(x: [I]) -> h {\n  param b: [H + 1] = blocks(0, 1)\n  state h: [H] = 0\n  h[t] = h[t-1]\n}';
    expect(() => lowerSource(source, 'l.seq')).toThrow(/blocks\(\.\.\.\) has 2 values, but the first dimension H \+ 1 does not split into 2 equal blocks/);
  });
});
