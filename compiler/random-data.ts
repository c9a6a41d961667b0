/** Random weights and inputs for checking a cell against the reference (browser-safe). */
import type { Random } from '../runtime/init.js';
import { validMask } from '../runtime/lengths.js';
import type { CellProgram } from './ir.js';

/** Weights like PyTorch's default RNN init: uniform in ±1/sqrt(fan-in), biases included. */
export function randomParams(program: CellProgram, sizes: Readonly<Record<string, number>>, random: Random): Record<string, Float32Array> {
  const params: Record<string, Float32Array> = {};
  for (const p of program.params) {
    const dims = p.shape.map((d) => d.evaluate(sizes));
    const scale = 1 / Math.sqrt(dims[dims.length - 1]!);
    params[p.name] = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (2 * random.uniform() - 1) * scale);
  }
  return params;
}

export function randomInputs(program: CellProgram, sizes: Readonly<Record<string, number>>, steps: number, batch: number, random: Random): Record<string, Float32Array> {
  const inputs: Record<string, Float32Array> = {};
  for (const i of program.inputs) {
    const n = i.shape.reduce((a, d) => a * d.evaluate(sizes), 1);
    if (i.mask) {
      inputs[i.name] = validMask(randomLengths(steps, batch, random), steps, batch);
      continue;
    }
    if (i.binary) {
      inputs[i.name] = prefixMasks(i.shape.at(-1)!.evaluate(sizes), n, steps * batch, random);
      continue;
    }
    // a onehot input takes ids: one whole number in [0, n) per step and example
    inputs[i.name] = i.onehot
      ? Float32Array.from({ length: steps * batch }, () => Math.min(n - 1, Math.floor(random.uniform() * n)))
      : Float32Array.from({ length: steps * batch * n }, () => 2 * random.uniform() - 1);
  }
  return inputs;
}

/**
 * 0/1 data as padding and causal masks are: each row of `width` a run of ones then zeros, at
 * least one one; the first row all ones.
 */
function prefixMasks(width: number, elements: number, count: number, random: Random): Float32Array {
  const out = new Float32Array(count * elements);
  for (let row = 0; row < out.length / width; row++) {
    const ones = row === 0 ? width : 1 + Math.min(width - 1, Math.floor(random.uniform() * width));
    out.fill(1, row * width, row * width + ones);
  }
  return out;
}

/** Lengths in [1, steps], the first example's the whole sequence, so padding and its absence both occur. */
export function randomLengths(steps: number, batch: number, random: Random): Int32Array {
  return Int32Array.from({ length: batch }, (_, b) => (b === 0 ? steps : 1 + Math.min(steps - 1, Math.floor(random.uniform() * steps))));
}

