/** Half-precision (IEEE binary16) and bfloat16 conversions, on raw bit patterns. */

/** The f32 bit pattern of a half's bit pattern (exact: every half is an f32). */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 113; // subnormal: mant × 2^-24; normalise so the leading one lands on bit 10
  while ((mant & 0x400) === 0) { mant <<= 1; e--; }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** Rounds `m` right by `shift` bits to nearest, ties to even. */
function roundShift(m: number, shift: number): number {
  const q = m >>> shift, rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1)) ? q + 1 : q;
}

/** The half nearest an f32 bit pattern, ties to even; beyond the largest half, infinity. */
export function f32ToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : (mant >>> 13) || 0x200);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return e < -10 ? sign : sign | roundShift(mant | 0x800000, 14 - e);
  return sign | roundShift((e << 23) | mant, 13); // a carry out of the mantissa bumps the exponent
}

/** The bfloat16 nearest an f32 bit pattern, ties to even. */
export function f32ToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    const h = x >>> 16;
    return h & 0x7f ? h : h | 0x40; // NaN stays NaN, its payload kept where it fits
  }
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Halves' bit patterns as the f32 values they are (exact). */
export function halvesToFloat32(bits: Uint16Array): Float32Array<ArrayBuffer> {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16ToF32Bits(bits[i]!);
  return new Float32Array(out.buffer);
}
