/** seqc train / sample / score on a tiny model for a few steps: the whole path, not the quality. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSeqc } from './run-seqc.js';

const seqc = (...args: string[]) => runSeqc(...args);

describe('character language model commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqc-lm-'));

  it('trains, checkpoints, plots, samples and scores', async () => {
    const trained = await seqc('train', '--out', dir, '--max-steps', '12', '--size', 'H=16', '--size', 'E=8', '--batch', '4', '--steps', '16');
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/finished after 12 steps/);
    expect(trained.stdout).toMatch(/held-out: \d+\.\d+ bits\/char/);
    for (const f of ['checkpoint.json', 'charlm.safetensors', 'loss.svg']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(readFileSync(join(dir, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    const sampled = await seqc('sample', dir, '--length', '40', '--prime', 'The ');
    expect(sampled.status, sampled.stderr).toBe(0);
    expect(sampled.stdout.trim().length).toBeGreaterThanOrEqual(40);
    const beams = await seqc('sample', dir, '--beam', '3', '--length', '30', '--prime', 'The ');
    expect(beams.status, beams.stderr).toBe(0);
    const lines = beams.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(3);
    for (const line of lines) expect(line).toMatch(/^\s*-\d+\.\d+ bits {2}"The /);
    const scored = await seqc('score', dir, 'The jury said it did.');
    expect(scored.status, scored.stderr).toBe(0);
    expect(scored.stdout).toMatch(/log p = -\d+\.\d+ nats .* \d+\.\d+ bits\/char/);
  });

  it('says what is wrong with a missing checkpoint', async () => {
    const r = await seqc('sample', join(dir, 'nowhere'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/seqc: error: .*checkpoint\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
