/**
 * Parameters read through a texture: a schedule choice of the runtime, per device. The
 * packed parameter buffer stays the one the optimizer writes; a copy of it in an
 * rgba32float texture is what the kernels read, refreshed from the buffer at the start of
 * every command buffer that reads it. On llvmpipe a storage-buffer load compiles to a loop
 * over the vector's lanes with a bounds check and a branch each, while a texel fetch is a
 * straight-line gather: a persistent LSTM step at B=1 (examples/lstm.seq, H=128) took
 * 6.5 ms instead of 10.4 with the same WGSL fetching its four-wide weight loads as texels.
 */

/** Texels per texture row: a power of two, so an index splits with a mask and a shift. */
const ROW_SHIFT = 10;
const ROW_TEXELS = 1 << ROW_SHIFT;
/** A buffer-to-texture copy's bytes per row must be a multiple of 256 (16 bytes a texel). */
const TEXEL_BYTES = 16;

import { adapterNameOf } from './device.js';

export type ParamAccess = 'texture' | 'buffer';

const chosenAccess = new WeakMap<GPUDevice, ParamAccess>();

/** Mesa's gallivm drivers, whose storage loads loop over the lanes (measured on llvmpipe). */
const GALLIVM_ADAPTER = /llvmpipe|lavapipe|softpipe/i;

/**
 * How kernels on this device read their four-wide parameter loads. The default is the
 * texture on Mesa's gallivm drivers, where it is measured to be faster, and the storage
 * buffer elsewhere: on GPUs, and on SwiftShader, where a texture-fed persistent kernel of the
 * char LM's training (which the cheaper loads make the runtime choose at B=4) did not
 * compile in 4 minutes.
 */
export function paramAccessOf(device: GPUDevice): ParamAccess {
  return chosenAccess.get(device) ?? (GALLIVM_ADAPTER.test(adapterNameOf(device)) ? 'texture' : 'buffer');
}

/** Overrides paramAccessOf for a device; applies to plans compiled on it afterwards. */
export function setParamAccess(device: GPUDevice, access: ParamAccess): void {
  chosenAccess.set(device, access);
}

/** Rows of texels that `floats` packed parameters take, or undefined where the device's texture is too small. */
export function paramTextureRows(device: GPUDevice, floats: number): number | undefined {
  const texels = Math.max(1, Math.ceil(floats / 4));
  const rows = Math.ceil(texels / ROW_TEXELS);
  const max = device.limits.maxTextureDimension2D;
  return ROW_TEXELS <= max && rows <= max ? rows : undefined;
}

const VECTOR_DECLARATION = /@group\(0\) @binding\(1\) var<storage, read> params: array<vec4<f32>>;/;

/** The binding of the texture beside the scalar parameter buffer (binding 1), past any plan's buffers. */
export const PARAM_TEXTURE_BINDING = 100;

/**
 * A vector twin's WGSL (PlanVariant.vectorParams) with its four-wide parameter loads
 * (`let w = params[(start) >> 2u];`) fetching texels of the texture copy, and its component
 * reads (`params[(i) >> 2u][(i) & 3u]`) loading element i from the buffer, bound again as
 * f32s: a scalar read through the texture fetches a whole texel and selects a lane, which on
 * llvmpipe is slower than the storage load it replaces (a 1024^3 GEMM's scalar 8x16 tile:
 * 8.6 GFLOP/s against 11.7). What the kernel computes is unchanged.
 */
export function withTextureParams(wgsl: string): string {
  if (!VECTOR_DECLARATION.test(wgsl)) throw new Error('internal: only a vector twin reads its parameters through the texture');
  const declarations = [
    '@group(0) @binding(1) var<storage, read> params: array<f32>;',
    `@group(0) @binding(${PARAM_TEXTURE_BINDING}) var params_texture: texture_2d<f32>;`,
    'fn param_texel(i: u32) -> vec4<f32> {',
    `  return textureLoad(params_texture, vec2<u32>(i & ${ROW_TEXELS - 1}u, i >> ${ROW_SHIFT}u), 0);`,
    '}',
  ].join('\n');
  return wgsl
    .replace(VECTOR_DECLARATION, declarations)
    .replace(/^(\s*let w\d+ = )params\[(\(.*\) >> 2u)\];$/gm, '$1param_texel($2);')
    .replace(/params\[\(([^[\]]*?)\) >> 2u\]\[\(\1\) & 3u\]/g, 'params[$1]');
}

/** The texture copy of one parameter buffer. */
class ParamTexture {
  readonly #buffer: GPUBuffer;
  readonly #texture: GPUTexture;
  readonly #texels: number;
  readonly view: GPUTextureView;

  constructor(device: GPUDevice, buffer: GPUBuffer, rows: number) {
    if (buffer.size % TEXEL_BYTES !== 0) throw new Error(`internal: a parameter buffer of ${buffer.size} bytes is not whole texels`);
    this.#buffer = buffer;
    this.#texels = buffer.size / TEXEL_BYTES;
    this.#texture = device.createTexture({
      size: [ROW_TEXELS, rows],
      format: 'rgba32float',
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      label: `${buffer.label}/texture`,
    });
    this.view = this.#texture.createView();
  }

  /** Copies the buffer into the texture: whole rows, then what is left of the last one. */
  refresh(encoder: GPUCommandEncoder): void {
    const whole = Math.floor(this.#texels / ROW_TEXELS);
    const bytesPerRow = ROW_TEXELS * TEXEL_BYTES;
    if (whole > 0) encoder.copyBufferToTexture({ buffer: this.#buffer, bytesPerRow }, { texture: this.#texture }, [ROW_TEXELS, whole]);
    const rest = this.#texels - whole * ROW_TEXELS;
    if (rest > 0) {
      encoder.copyBufferToTexture({ buffer: this.#buffer, offset: whole * bytesPerRow, bytesPerRow }, { texture: this.#texture, origin: [0, whole] }, [rest, 1]);
    }
  }

  destroy(): void {
    this.#texture.destroy();
  }
}

const textures = new WeakMap<GPUBuffer, ParamTexture>();

/** The texture copy of a parameter buffer, made on first use and shared by every plan bound to the buffer. */
export function paramTextureOf(device: GPUDevice, buffer: GPUBuffer): ParamTexture {
  let texture = textures.get(buffer);
  if (!texture) {
    const rows = paramTextureRows(device, buffer.size / 4);
    if (rows === undefined) throw new Error(`internal: ${buffer.size} bytes of parameters do not fit this device's textures`);
    textures.set(buffer, (texture = new ParamTexture(device, buffer, rows)));
  }
  return texture;
}

/** Destroys the texture copy of a parameter buffer, if it has one (with the buffer). */
export function releaseParamTexture(buffer: GPUBuffer): void {
  textures.get(buffer)?.destroy();
  textures.delete(buffer);
}
