/**
 * Parameter initializers, seeded so that the same seed gives the same weights everywhere.
 * Randomness comes from pure-rand's xoroshiro128+ rather than Math.random.
 */
import { unsafeUniformIntDistribution, xoroshiro128plus, type RandomGenerator } from 'pure-rand';
import type { PlanInit } from './plan.js';

/** murmur3's 32-bit finalizer over the seed plus the golden ratio: nearby seeds, far-apart states. */
function mixSeed(seed: number): number {
  let h = (seed + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class Random {
  readonly #rng: RandomGenerator;
  #spare: number | undefined;

  constructor(seed: number) {
    // xoroshiro128+ seeded with a small number starts near 0.5 whatever the seed (seeds 0..11
    // all give 0.500 first); a hashed seed makes even the first draws differ from seed to seed
    this.#rng = xoroshiro128plus(mixSeed(seed));
  }

  /** uniform in [0, 1) with 32 random bits */
  uniform(): number {
    return unsafeUniformIntDistribution(0, 0xffffffff, this.#rng) / 4294967296;
  }

  /** standard normal (Box-Muller) */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** rows x cols with orthonormal rows or columns (whichever are fewer), by Gram-Schmidt. */
function orthogonal(rows: number, cols: number, random: Random): Float32Array {
  const tall = rows >= cols;
  const [n, m] = tall ? [cols, rows] : [rows, cols]; // n orthonormal vectors of length m
  const vectors: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from({ length: m }, () => random.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (const u of vectors) {
        let dot = 0;
        for (let k = 0; k < m; k++) dot += u[k]! * v[k]!;
        for (let k = 0; k < m; k++) v[k]! -= dot * u[k]!;
      }
    }
    const norm = Math.hypot(...v) || 1;
    vectors.push(v.map((x) => x / norm));
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) out[tall ? k * cols + i : i * cols + k] = vectors[i]![k]!;
  }
  return out;
}

/** Fills a parameter of the given shape ([rows, cols] or [n]). */
export function initialize(init: PlanInit, shape: readonly number[], random: Random): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const [rows, cols] = shape.length === 2 ? (shape as [number, number]) : [shape[0]!, 1];
  const uniform = (scale: number) => Float32Array.from({ length: count }, () => (2 * random.uniform() - 1) * scale);
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(count);
    case 'ones':
      return new Float32Array(count).fill(1);
    case 'constant':
      return new Float32Array(count).fill(init.value);
    case 'blocks': {
      const out = new Float32Array(count);
      const block = count / init.values.length;
      init.values.forEach((v, i) => out.fill(v, i * block, (i + 1) * block));
      return out;
    }
    case 'uniform':
      return uniform(init.scale);
    case 'normal':
      return Float32Array.from({ length: count }, () => random.normal() * init.std);
    case 'xavier':
      return uniform(Math.sqrt(6 / (rows + cols)));
    case 'orthogonal':
      return orthogonal(rows, cols, random);
  }
}
