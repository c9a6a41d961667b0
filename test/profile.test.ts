/** SeqModel.profile: where a forward's time goes, kernel by kernel, without changing what forward computes. */
import { describe, expect, it } from 'vitest';
import { buildLaunchPlan } from '../compiler/launch-plan.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { Random } from '../runtime/init.js';
import { createModel } from '../runtime/index.js';
import { loadExample } from './gpu-helpers.js';
import { runSeqc } from './run-seqc.js';

describe('SeqModel.profile', () => {
  it.each([
    ['gru', 1], // one persistent kernel walks the steps
    ['gru', 5], // a kernel per step
    ['mingru', 5], // a parallel scan
  ])('times the whole forward and then each kernel it runs (%s, B=%i), and forward is unchanged after it', async (name, B) => {
    const program = loadExample(name);
    const plan = buildLaunchPlan(program);
    const sizes = Object.fromEntries(program.sizes.map((s) => [s.name, 8]));
    const random = new Random(3);
    const model = await createModel(plan, { sizes, batch: B });
    try {
      model.setParams(randomParams(program, sizes, random));
      const inputs = randomInputs(program, sizes, 6, B, random);
      const state = Object.fromEntries(plan.states.map((s) => [s.name, Float32Array.from({ length: B * 8 }, () => random.uniform() - 0.5)]));
      const before = await model.forward(inputs, state);
      const rows = await model.profile(inputs, state, { repeats: 2 });
      const after = await model.forward(inputs, state);
      expect(after.outputs).toEqual(before.outputs);
      expect(after.states).toEqual(before.states);

      expect(rows[0]!.kernel).toMatch(/^whole forward/);
      const ran = rows.slice(1).map((r) => {
        const kernel = plan.kernels.find((k) => k.label === r.kernel.replace(/ \(.*\)$/, ''));
        expect(kernel, r.kernel).toBeDefined();
        return kernel!;
      });
      expect(ran.length).toBeGreaterThan(0);
      // a plan's persistent kernel or its step kernels, never both
      const persistentRan = ran.some((k) => k.persistent);
      expect(persistentRan && ran.some((k) => k.phase === 'step' && !k.persistent)).toBe(false);
      if (name === 'gru' && B === 1) expect(persistentRan).toBe(true);
      if (name === 'mingru') expect(ran.some((k) => k.phase === 'scan')).toBe(true);
      for (const r of rows) {
        expect(r.ms).toBeGreaterThan(0);
        expect(r.minMs).toBeLessThanOrEqual(r.ms);
      }
    } finally {
      model.dispose();
    }
  });

  it('is printed by seqc run --profile, each kernel with its share', async () => {
    const run = await runSeqc('run', 'examples/lstm.seq', '--size', 'I=6', '--size', 'H=8', '--steps', '5', '--batch', '3', '--repeats', '2', '--profile');
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const table = run.stdout.slice(run.stdout.indexOf('profile:'));
    expect(table).toMatch(/^profile: host time, median of 2/);
    expect(table).toMatch(/^ +[\d.]+ ms +\(min +[\d.]+\) +whole forward: one submit and the readback$/m);
    const shares = [...table.matchAll(/^ +[\d.]+ ms +\(min +[\d.]+\) +(\d+)% +LSTM\/\S+ \(\d+x\d+/gm)].map((m) => Number(m[1]));
    expect(shares.length).toBeGreaterThan(0);
    expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 100)).toBeLessThanOrEqual(shares.length);
  });
});
