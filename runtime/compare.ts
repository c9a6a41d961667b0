/** Comparing device results with the float64 reference: |a - e| <= atol + rtol * |e|. */

export interface Comparison {
  /** largest |actual - expected| */
  readonly maxAbs: number;
  /** largest |actual - expected| / (atol + rtol * |expected|): at most 1 when within tolerance */
  readonly worstRatio: number;
  readonly ok: boolean;
  /** where the worst element is, and its values */
  readonly worst?: { readonly index: number; readonly actual: number; readonly expected: number };
}

export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5): Comparison {
  if (actual.length !== expected.length) throw new Error(`lengths differ: ${actual.length} vs ${expected.length}`);
  let maxAbs = 0;
  let worstRatio = 0;
  let worst: Comparison['worst'];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const diff = Math.abs(a - e);
    const ratio = Number.isNaN(diff) ? Infinity : diff / (atol + rtol * Math.abs(e));
    if (diff > maxAbs || Number.isNaN(diff)) maxAbs = Number.isNaN(diff) ? Infinity : diff;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, actual: a, expected: e };
    }
  }
  return { maxAbs, worstRatio, ok: worstRatio <= 1, ...(worst ? { worst } : {}) };
}

/** Uniform values in [-scale, scale) from a small seeded generator (test data, not weights). */
export function randomArray(length: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    // xorshift32: enough for test inputs, reproducible across platforms
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
