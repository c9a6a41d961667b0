/**
 * Per-sequence lengths on the host: the 0/1 `__valid` input of a cell compiled with lengths
 * (compiler/lengths.ts), the outputs zeroed at padded steps, and sequences reversed within
 * their lengths (a reverse direction is the forward program on the reversed sequences).
 */

/** The mask input's name, as compiler/lengths.ts adds it. */
export const VALID_INPUT = '__valid';

/** Checks lengths against a batch padded to `steps`: one whole number in [0, steps] per example. */
export function checkLengths(lengths: ArrayLike<number>, steps: number, batch: number): void {
  if (lengths.length !== batch) throw new Error(`lengths has ${lengths.length} entries, expected one per example (batch ${batch})`);
  for (let b = 0; b < batch; b++) {
    const n = lengths[b]!;
    if (!Number.isInteger(n) || n < 0 || n > steps) throw new Error(`lengths[${b}] = ${n} is not a whole number of steps in [0, ${steps}]`);
  }
}

/** [T, B, 1]: 1 where t < lengths[b]; all ones without lengths. */
export function validMask(lengths: ArrayLike<number> | undefined, steps: number, batch: number): Float32Array {
  const mask = new Float32Array(steps * batch).fill(1);
  if (!lengths) return mask;
  checkLengths(lengths, steps, batch);
  for (let t = 0; t < steps; t++) for (let b = 0; b < batch; b++) if (t >= lengths[b]!) mask[t * batch + b] = 0;
  return mask;
}

/** Zeroes steps t >= lengths[b] of a [T, B, N] sequence in place (ONNX's Y at padded steps). */
export function zeroPadding(data: Float32Array, lengths: ArrayLike<number>, steps: number, batch: number): Float32Array {
  const n = data.length / (steps * batch);
  for (let t = 0; t < steps; t++) for (let b = 0; b < batch; b++) if (t >= lengths[b]!) data.fill(0, (t * batch + b) * n, (t * batch + b + 1) * n);
  return data;
}

/**
 * Each example's first lengths[b] steps in reverse order, padding left in place: applied
 * twice it is the identity, so it maps inputs to a reverse direction and its outputs back.
 */
export function reverseWithin<T extends Float32Array | Float64Array | Int32Array | Uint32Array>(data: T, lengths: ArrayLike<number> | undefined, steps: number, batch: number): T {
  const n = data.length / (steps * batch);
  const out = data.slice() as T;
  for (let b = 0; b < batch; b++) {
    const length = lengths ? lengths[b]! : steps;
    for (let t = 0; t < length; t++) out.set(data.subarray(((length - 1 - t) * batch + b) * n, ((length - 1 - t) * batch + b + 1) * n), (t * batch + b) * n);
  }
  return out;
}
