/**
 * Memories on the host: a layer's outputs over all S positions, [S, B, M], given to a cell
 * at every one of its T steps as a per-step [S, M] input ([T, B, S, M]); masks of the steps
 * it may see; and the way back, the gradient of a memory summed over the steps that read it.
 */

type Floats = Float32Array | Float64Array;
const like = <A extends Floats>(a: A, length: number): A => new (a.constructor as new (n: number) => A)(length);

/** rows [S, B, M] as the per-step input [T, B, S, M]: every step sees all of them (f32 on the device, f64 in references) */
export function memoryPerStep<A extends Floats>(rows: A, S: number, B: number, M: number, steps: number): A {
  const perExample = like(rows, B * S * M);
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) perExample.set(rows.subarray((s * B + b) * M, (s * B + b + 1) * M), (b * S + s) * M);
  const out = like(rows, steps * perExample.length);
  for (let t = 0; t < steps; t++) out.set(perExample, t * perExample.length);
  return out;
}

/** the gradient of a per-step memory [T, B, S, M], summed over the steps, as the rows' gradient [S, B, M] */
export function memoryGradient(perStep: Float32Array, S: number, B: number, M: number, steps: number, into = new Float32Array(S * B * M)): Float32Array {
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const from = ((t * B + b) * S + s) * M;
        const to = (s * B + b) * M;
        for (let m = 0; m < M; m++) into[to + m]! += perStep[from + m]!;
      }
    }
  }
  return into;
}

/** [T, B, S]: 1 on each example's first lengths[b] memory steps (all S without lengths) */
export function validSteps(lengths: ArrayLike<number> | undefined, S: number, B: number, steps: number): Float32Array {
  const out = new Float32Array(steps * B * S);
  for (let t = 0; t < steps; t++) for (let b = 0; b < B; b++) out.fill(1, (t * B + b) * S, (t * B + b) * S + (lengths ? lengths[b]! : S));
  return out;
}

/** [T, B, T]: step t sees the steps up to itself (a decoder's own positions) */
export function causalSteps(T: number, B: number): Float32Array {
  const out = new Float32Array(T * B * T);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) out.fill(1, (t * B + b) * T, (t * B + b) * T + t + 1);
  return out;
}
