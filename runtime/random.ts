/**
 * The counter-based RNG behind dropout, in JavaScript and in WGSL side by side: a value is
 * a pure function of its counter (seed, stream, step, batch row, element), so a kernel
 * draws any element without state, a backward pass redraws exactly the forward's masks,
 * and the CPU reference computes the same bits. Only u32 xor, shift and wrapping multiply
 * are used, which WGSL and `Math.imul`/`>>>` compute identically.
 */

/**
 * lowbias32 (Chris Wellons, hash-prospector): an invertible u32 mixer with low bias. Being a
 * bijection, each round keeps distinct counters distinct.
 */
export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** What a mask that is the same at every step uses as its step counter (never a real step). */
export const EVERY_STEP = 0xffffffff;

/** The golden-ratio constant, so that the all-zero counter does not hash to 0. */
const START = 0x9e3779b9;

/** 24 random bits for one counter: u = bits * 2^-24 is uniform in [0, 1) and exact in f32. */
export function random24(seed: number, stream: number, t: number, b: number, j: number): number {
  let h = hash32(START ^ seed);
  h = hash32(h ^ stream);
  h = hash32(h ^ t);
  h = hash32(h ^ b);
  h = hash32(h ^ j);
  return h >>> 8;
}

/** The same two functions in WGSL, added to a kernel that draws masks. */
export const RANDOM_WGSL = `fn seqc_hash(v: u32) -> u32 {
  var x = v;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}
fn seqc_random24(seed: u32, stream: u32, t: u32, b: u32, j: u32) -> u32 {
  var h = seqc_hash(0x9e3779b9u ^ seed);
  h = seqc_hash(h ^ stream);
  h = seqc_hash(h ^ t);
  h = seqc_hash(h ^ b);
  h = seqc_hash(h ^ j);
  return h >> 8u;
}`;

/**
 * Keeping an element with probability 1 - p means u >= p. With u = k * 2^-24 and p rounded
 * to f32 as the device sees it, that is k >= ceil(p * 2^24): an integer test, exact on both sides.
 */
export function keepThreshold(p: number): number {
  return Math.ceil(Math.fround(p) * 2 ** 24);
}

/** The seed of one training step, from the trainer's seed and its step counter. */
export function stepSeed(seed: number, step: number): number {
  return hash32(hash32(START ^ (seed >>> 0)) ^ (step >>> 0));
}
