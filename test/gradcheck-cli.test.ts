/** `seqc gradcheck` through the real CLI: passes on example cells, fails (exit 1) when it should. */
import { describe, expect, it } from 'vitest';
import { runSeqc } from './run-seqc.js';

const seqc = (...args: string[]) => runSeqc('gradcheck', ...args);

describe('seqc gradcheck', () => {
  it.each([
    ['examples/gru.seq', '--size', 'I=4', '--size', 'H=6'],
    ['examples/mingru.seq', '--steps', '8', '--batch', '4'],
    ['examples/lstm-peephole.seq', '--loss', 'sigmoid-bce'],
  ])('%s passes', async (...args) => {
    const run = await seqc(...args);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PASS/m);
    expect(run.stdout).toMatch(/param \w+\s+\d+\s+\d\.\d\de-\d+ ok/);
    expect(run.stdout).toMatch(/initial h/);
  });

  it('fails with exit 1 when the tolerance cannot be met', async () => {
    const run = await seqc('examples/rnn.seq', '--tolerance', '1e-12');
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^FAIL/m);
  });

  it('rejects an unknown loss or output with a usage error', async () => {
    expect((await seqc('examples/rnn.seq', '--loss', 'hinge')).stderr).toMatch(/seqc: error: --loss hinge/);
    expect((await seqc('examples/rnn.seq', '--output', 'q')).stderr).toMatch(/seqc: error: --output q/);
  });
});
