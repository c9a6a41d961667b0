/**
 * The example cells, compiled and run by the CPU reference on weights mapped from ONNX and
 * PyTorch, against the independent float64 spec implementations in onnx-spec.ts.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { lowerSource } from '../compiler/frontend.js';
import { referenceForward } from '../runtime/reference.js';
import { fromOnnx, fromTorch, type OnnxCell, type TorchCell } from '../runtime/weights.js';
import { type Dims, type Vec, randomOnnxCase, randomTorchCase } from './onnx-spec.js';

const TOL = 1e-9;
const I = 3;
const H = 5;
const T = 4;
const B = 2;
const dims: Dims = { T, batch: B, I, H };

function maxDiff(actual: Vec | undefined, expected: Vec): number {
  expect(actual, 'missing result').toBeDefined();
  expect(actual!.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual![i]! - expected[i]!));
  return worst;
}

function program(cell: string) {
  const file = new URL(`../examples/${cell}.seq`, import.meta.url);
  return lowerSource(readFileSync(file, 'utf8'), `examples/${cell}.seq`);
}

const ONNX_CELLS: OnnxCell[] = ['rnn', 'rnn-relu', 'gru', 'gru-reset-after', 'lstm', 'lstm-peephole'];
const TORCH_CELLS: TorchCell[] = ['rnn', 'rnn-relu', 'gru-reset-after', 'lstm'];
const isLstm = (cell: string) => cell.startsWith('lstm');

describe('example cells match ONNX', () => {
  for (const cell of ONNX_CELLS) {
    for (const initialStates of [false, true]) {
      it(`${cell}${initialStates ? ' from initial_h' + (isLstm(cell) ? '/initial_c' : '') : ''}`, () => {
        const c = randomOnnxCase(cell, 2024 + ONNX_CELLS.indexOf(cell), dims, { initialStates });
        const initialState = initialStates ? { h: c.initialH!, ...(c.initialC && { c: c.initialC }) } : undefined;
        const r = referenceForward(program(cell), {
          params: fromOnnx(cell, c.tensors, { I, H }),
          inputs: { x: c.X },
          sizes: { I, H },
          T,
          B,
          ...(initialState && { initialState }),
        });
        expect(maxDiff(r.outputs.h, c.Y)).toBeLessThan(TOL);
        expect(maxDiff(r.finalStates.h, c.Y_h)).toBeLessThan(TOL);
        if (c.Y_c) expect(maxDiff(r.finalStates.c, c.Y_c)).toBeLessThan(TOL);
      });
    }
  }
});

describe('example cells match PyTorch', () => {
  for (const cell of TORCH_CELLS) {
    it(cell, () => {
      const c = randomTorchCase(cell, 7 + TORCH_CELLS.indexOf(cell), dims, { initialStates: true });
      const r = referenceForward(program(cell), {
        params: fromTorch(cell, c.stateDict, { I, H }),
        inputs: { x: c.x },
        sizes: { I, H },
        T,
        B,
        initialState: { h: c.h0!, ...(c.c0 && { c: c.c0 }) },
      });
      expect(maxDiff(r.outputs.h, c.output)).toBeLessThan(TOL);
      expect(maxDiff(r.finalStates.h, c.h_n)).toBeLessThan(TOL);
      if (c.c_n) expect(maxDiff(r.finalStates.c, c.c_n)).toBeLessThan(TOL);
    });
  }
});
