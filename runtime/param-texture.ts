/**
 * Parameters read through a texture: a schedule choice of the runtime, per device. The
 * packed parameter buffer stays the one the optimizer writes; a copy of it in an
 * rgba32float texture is what the kernels read, refreshed from the buffer at the start of
 * every command buffer that reads it. On llvmpipe a storage-buffer load compiles to a loop
 * over the vector's lanes with a bounds check and a branch each, while a texel fetch is a
 * straight-line gather: a persistent LSTM step at B=1 (examples/lstm.seq, H=128) took
 * 6.5 ms instead of 10.4 with the same WGSL reading its weights from a texture.
 */

/** Texels per texture row: a power of two, so an index splits with a mask and a shift. */
const ROW_SHIFT = 10;
const ROW_TEXELS = 1 << ROW_SHIFT;
/** A buffer-to-texture copy's bytes per row must be a multiple of 256 (16 bytes a texel). */
const TEXEL_BYTES = 16;

export type ParamAccess = 'texture' | 'buffer';

const chosenAccess = new WeakMap<GPUDevice, ParamAccess>();

/**
 * How kernels on this device read parameters. The default is a texture on CPU adapters,
 * where it is measured to be faster, and a storage buffer on GPUs.
 */
export function paramAccessOf(device: GPUDevice, cpuAdapter: boolean): ParamAccess {
  return chosenAccess.get(device) ?? (cpuAdapter ? 'texture' : 'buffer');
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

const PARAM_DECLARATION = /@group\(0\) @binding\((\d+)\) var<storage, read> params: array<(vec4<f32>|f32)>;/;

/**
 * A kernel's WGSL with its parameter binding a texture: `params[i]` of a vec4 binding
 * becomes the texel i, of an f32 binding component i & 3 of texel i >> 2. The rest of the
 * text, and so what the kernel computes, is unchanged.
 */
export function withTextureParams(wgsl: string): string {
  const declaration = PARAM_DECLARATION.exec(wgsl);
  if (!declaration) throw new Error('internal: a kernel that uses params declares no params binding');
  const vector = declaration[2] === 'vec4<f32>';
  const helpers = [
    `@group(0) @binding(${declaration[1]}) var params_texture: texture_2d<f32>;`,
    'fn param_texel(i: u32) -> vec4<f32> {',
    `  return textureLoad(params_texture, vec2<u32>(i & ${ROW_TEXELS - 1}u, i >> ${ROW_SHIFT}u), 0);`,
    '}',
    ...(vector ? [] : ['fn param_element(i: u32) -> f32 {', '  return param_texel(i >> 2u)[i & 3u];', '}']),
  ].join('\n');
  return replaceParamReads(wgsl.replace(declaration[0], helpers), vector ? 'param_texel(' : 'param_element(');
}

/** Each `params[index]` (brackets matched, indices rewritten too) as `call index)`. */
function replaceParamReads(text: string, call: string): string {
  let out = '';
  let at = 0;
  for (let k = text.indexOf('params[', at); k >= 0; k = text.indexOf('params[', at)) {
    if (/\w/.test(text[k - 1] ?? '')) {
      out += text.slice(at, k + 7);
      at = k + 7;
      continue;
    }
    let depth = 1;
    let close = k + 7;
    for (; depth > 0; close++) {
      if (close >= text.length) throw new Error('internal: an unclosed params[ in a kernel');
      if (text[close] === '[') depth++;
      else if (text[close] === ']') depth--;
    }
    out += text.slice(at, k) + call + replaceParamReads(text.slice(k + 7, close - 1), call) + ')';
    at = close;
  }
  return out + text.slice(at);
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
