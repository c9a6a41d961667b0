/**
 * Parameters stored as halves: a precision choice of the runtime, per model. The packed f32
 * parameter buffer stays the one the optimizer writes and `getParam` reads; a copy of it in
 * IEEE binary16 is what the kernels read, rounded from the buffer by a small kernel at the
 * start of every command buffer that reads it. Every load converts to f32, and the
 * kernels compute and accumulate in f32 as they do without it: a half has 11 significant
 * bits, so a dot product of H = 256 terms summed in halves would lose ~sqrt(256) x 2^-11,
 * about 1%, and a recurrence compounds that over its steps. What halves the parameters
 * buy is their bytes: the per-step kernels reread every recurrent weight each step.
 *
 * Two spellings of the same bytes: with the device feature `shader-f16` the copy is an
 * `array<vec4<f16>>` (or `array<f16>`); without it, pairs of halves in `u32`s that
 * `unpack2x16float` expands, which every WebGPU device runs.
 */

import { readBack } from './executor.js';
import { halvesToFloat32 } from './half-bits.js';

/** How kernels store the parameters they read. */
export type ParamPrecision = 'f32' | 'f16';

/** The WGSL type of the half copy: native f16 (needs `shader-f16`) or two halves per u32. */
export type HalfSpelling = 'f16' | 'packed';

/** The largest finite half: parameters beyond it are stored as it, not as infinities. */
const HALF_MAX = 65504;
/** Invocations of a conversion workgroup, each rounding four parameters. */
const CONVERSION_LANES = 64;
/** Bytes of four f32 parameters, the conversion's unit. */
const TEXEL_BYTES = 16;

export function halfSpellingOf(device: GPUDevice): HalfSpelling {
  return device.features.has('shader-f16') ? 'f16' : 'packed';
}

const DECLARATION = /^@group\(0\) @binding\(1\) var<storage, read> params: array<(vec4<f32>|f32)>;$/m;

/** The reads a rewritten kernel calls instead of indexing `params`, by spelling and declaration. */
function readers(spelling: HalfSpelling, vector: boolean): string[] {
  const declare = (type: string) => `@group(0) @binding(1) var<storage, read> params: array<${type}>;`;
  if (spelling === 'f16') {
    return vector
      ? [declare('vec4<f16>'), 'fn param_vec4(i: u32) -> vec4<f32> {', '  return vec4<f32>(params[i]);', '}', 'fn param_lane(i: u32, lane: u32) -> f32 {', '  return f32(params[i][lane]);', '}']
      : [declare('f16'), 'fn param_at(i: u32) -> f32 {', '  return f32(params[i]);', '}'];
  }
  return vector
    ? [
        declare('vec2<u32>'),
        'fn param_vec4(i: u32) -> vec4<f32> {',
        '  let halves = params[i];',
        '  return vec4<f32>(unpack2x16float(halves.x), unpack2x16float(halves.y));',
        '}',
        'fn param_lane(i: u32, lane: u32) -> f32 {',
        '  return unpack2x16float(params[i][lane >> 1u])[lane & 1u];',
        '}',
      ]
    : [declare('u32'), 'fn param_at(i: u32) -> f32 {', '  return unpack2x16float(params[i >> 1u])[i & 1u];', '}'];
}

/** The index of the bracket that closes the one at `open`. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '[') depth++;
    else if (text[i] === ']' && --depth === 0) return i;
  }
  throw new Error(`internal: unbalanced brackets in \`${text.trim()}\``);
}

/** One line of code (comment excluded) with its `params[...]` reads turned into calls. */
function rewriteReads(code: string, vector: boolean): string {
  let out = '';
  let from = 0;
  for (const match of code.matchAll(/\bparams\[/g)) {
    if (match.index < from) continue;
    const open = match.index + 'params'.length;
    const close = closing(code, open);
    const index = rewriteReads(code.slice(open + 1, close), vector);
    let end = close + 1;
    let call: string;
    if (vector && code[end] === '[') {
      const laneClose = closing(code, end);
      call = `param_lane(${index}, ${rewriteReads(code.slice(end + 1, laneClose), vector)})`;
      end = laneClose + 1;
    } else call = vector ? `param_vec4(${index})` : `param_at(${index})`;
    if (/^\s*=(?!=)/.test(code.slice(end))) throw new Error(`internal: a kernel writes its parameters: \`${code.trim()}\``);
    out += code.slice(from, match.index) + call;
    from = end;
  }
  return out + code.slice(from);
}

/**
 * A kernel's WGSL reading its parameters from the half copy: the declaration of binding 1
 * becomes the copy's type and every read of `params` a call that converts to f32, so what
 * the kernel computes from the values it reads is unchanged.
 */
export function withHalfParams(wgsl: string, spelling: HalfSpelling): string {
  const declared = DECLARATION.exec(wgsl);
  if (!declared) throw new Error('internal: the kernel declares no parameter buffer at binding 1');
  const vector = declared[1] === 'vec4<f32>';
  const body = wgsl
    .split('\n')
    .map((line) => {
      if (line === declared[0]) return readers(spelling, vector).join('\n');
      const comment = line.indexOf('//');
      const code = comment < 0 ? line : line.slice(0, comment);
      return code.includes('params[') ? rewriteReads(code, vector) + line.slice(code.length) : line;
    })
    .join('\n');
  return spelling === 'f16' ? `enable f16;\n${body}` : body;
}

/** Rounds the f32 parameters to halves, four per invocation, saturating at the largest finite half. */
export function halfConversionWgsl(spelling: HalfSpelling): string {
  const store =
    spelling === 'f16'
      ? 'halves[i] = vec4<f16>(v);'
      : 'halves[i] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw));';
  return [
    ...(spelling === 'f16' ? ['enable f16;'] : []),
    '@group(0) @binding(0) var<storage, read> source: array<vec4<f32>>;',
    `@group(0) @binding(1) var<storage, read_write> halves: array<${spelling === 'f16' ? 'vec4<f16>' : 'vec2<u32>'}>;`,
    `@compute @workgroup_size(${CONVERSION_LANES})`,
    'fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {',
    `  let i = id.x + id.y * groups.x * ${CONVERSION_LANES}u;`,
    '  if (i >= arrayLength(&halves)) {',
    '    return;',
    '  }',
    `  let v = clamp(source[i], vec4<f32>(-${HALF_MAX}.0), vec4<f32>(${HALF_MAX}.0));`,
    `  ${store}`,
    '}',
  ].join('\n');
}

const conversions = new WeakMap<GPUDevice, Map<HalfSpelling, GPUComputePipeline>>();

function conversionPipeline(device: GPUDevice, spelling: HalfSpelling): GPUComputePipeline {
  let bySpelling = conversions.get(device);
  if (!bySpelling) conversions.set(device, (bySpelling = new Map()));
  let pipeline = bySpelling.get(spelling);
  if (!pipeline) {
    const module = device.createShaderModule({ code: halfConversionWgsl(spelling), label: `params/to-${spelling}` });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: `params/to-${spelling}` });
    bySpelling.set(spelling, pipeline);
  }
  return pipeline;
}

/** The half copy of one parameter buffer. */
class HalfParams {
  readonly buffer: GPUBuffer;
  readonly #group: GPUBindGroup;
  readonly #pipeline: GPUComputePipeline;
  readonly #groups: [number, number];

  constructor(device: GPUDevice, source: GPUBuffer, readonly spelling: HalfSpelling) {
    if (source.size % TEXEL_BYTES !== 0) throw new Error(`internal: a parameter buffer of ${source.size} bytes is not whole vec4s`);
    this.buffer = device.createBuffer({ size: source.size / 2, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label: `${source.label}/halves` });
    this.#pipeline = conversionPipeline(device, spelling);
    this.#group = device.createBindGroup({
      layout: this.#pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: source } },
        { binding: 1, resource: { buffer: this.buffer } },
      ],
      label: `${source.label}/to-halves`,
    });
    const blocks = Math.ceil(source.size / TEXEL_BYTES / CONVERSION_LANES);
    const x = Math.min(blocks, device.limits.maxComputeWorkgroupsPerDimension);
    this.#groups = [x, Math.ceil(blocks / x)];
  }

  /** Rounds the buffer's current parameters into the copy, in a pass of its own. */
  refresh(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass({ label: 'params/to-halves' });
    pass.setPipeline(this.#pipeline);
    pass.setBindGroup(0, this.#group);
    pass.dispatchWorkgroups(...this.#groups);
    pass.end();
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

const copies = new WeakMap<GPUBuffer, HalfParams>();

/** The half copy of a parameter buffer, made on first use and shared by every plan bound to the buffer. */
export function halfParamsOf(device: GPUDevice, buffer: GPUBuffer): HalfParams {
  let copy = copies.get(buffer);
  if (!copy) copies.set(buffer, (copy = new HalfParams(device, buffer, halfSpellingOf(device))));
  return copy;
}

/** The half copy of a parameter buffer as kernels read it, widened to f32 (exact), in the buffer's layout. */
export async function readHalfParams(device: GPUDevice, buffer: GPUBuffer): Promise<Float32Array<ArrayBuffer>> {
  const halves = halfParamsOf(device, buffer).buffer;
  const raw = await readBack(device, halves, 0, halves.size / 4);
  return halvesToFloat32(new Uint16Array(raw.buffer, raw.byteOffset, raw.length * 2));
}

/** Destroys the half copy of a parameter buffer, if it has one (with the buffer). */
export function releaseHalfParams(buffer: GPUBuffer): void {
  copies.get(buffer)?.destroy();
  copies.delete(buffer);
}
