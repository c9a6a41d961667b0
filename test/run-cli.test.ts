/** `seqc run` through the real CLI: the cell against the float64 reference, with its parameters as f32 or as halves. */
import { describe, expect, it } from 'vitest';
import { runSeqc } from './run-seqc.js';

const seqc = (...args: string[]) => runSeqc('run', ...args);
const small = ['--size', 'I=6', '--size', 'H=8', '--steps', '5', '--batch', '3', '--repeats', '2'];

describe('seqc run', () => {
  it('equals the reference with f32 parameters', async () => {
    const run = await seqc('examples/lstm.seq', ...small);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PASS: GPU equals the float64 reference/m);
    expect(run.stdout).not.toMatch(/halves/);
  });

  it('equals the reference given the halves the kernels read, with --param-precision f16', async () => {
    const run = await seqc('examples/lstm.seq', ...small, '--param-precision', 'f16');
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^parameters: read as halves \((f16|packed in u32s)\); the reference is given the same halves$/m);
    expect(run.stdout).toMatch(/^PASS/m);
  });

  it('rejects a precision it does not know', async () => {
    const run = await seqc('examples/lstm.seq', '--param-precision', 'f8');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/seqc: error: --param-precision f8: expected f32 or f16/);
  });
});
