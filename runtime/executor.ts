/**
 * Runs a launch plan on a GPUDevice: the whole sequence, hoisted kernels and then every
 * step's kernels, in one command buffer and one submit, with no readback until the end.
 * The step index reaches kernels through a dynamic uniform offset.
 */
import type { LaunchPlan, PlanKernel } from './plan.js';
import { evaluateDim } from './plan.js';

const UNIFORM_BYTES = 16;

interface CompiledKernel {
  readonly kernel: PlanKernel;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly workgroups: number;
}

/** Pipelines are cached per device by WGSL text and constants, so models of one cell share them. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>>();

function layoutFor(device: GPUDevice, kernel: PlanKernel): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: UNIFORM_BYTES } },
  ];
  const storage = (type: GPUBufferBindingType) => ({ binding: entries.length, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  if (kernel.usesParams) entries.push(storage('read-only-storage'));
  for (const b of kernel.buffers) entries.push(storage(b.write ? 'storage' : 'read-only-storage'));
  return device.createBindGroupLayout({ entries, label: kernel.label });
}

async function pipelineFor(device: GPUDevice, kernel: PlanKernel, constants: Record<string, number>) {
  let cache = pipelineCache.get(device);
  if (!cache) pipelineCache.set(device, (cache = new Map()));
  const key = `${JSON.stringify(constants)}\n${kernel.usesParams}${JSON.stringify(kernel.buffers)}\n${kernel.wgsl}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = (async () => {
      const layout = layoutFor(device, kernel);
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: kernel.wgsl, label: kernel.label });
      const pipeline = await device.createComputePipelineAsync({
        label: kernel.label,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants },
      });
      const error = await device.popErrorScope();
      if (error) throw new Error(`kernel ${kernel.label} failed to compile: ${error.message}`);
      return { pipeline, layout };
    })();
    cache.set(key, entry);
    entry.catch(() => cache!.delete(key));
  }
  return entry;
}

/** Device buffers for one (steps, batch) shape, reused across calls of that shape. */
interface Workspace {
  readonly steps: number;
  readonly batch: number;
  readonly buffers: GPUBuffer[];
  readonly uniforms: GPUBuffer;
  readonly bindGroups: GPUBindGroup[];
  readonly staging: GPUBuffer;
}

export interface RunRequest {
  readonly steps: number;
  readonly batch: number;
  /** per input buffer index: [T, B, N] */
  readonly inputs: ReadonlyMap<number, Float32Array>;
  /** per state buffer index: its first `lags` slots, [lags, B, N] */
  readonly initialSlots: ReadonlyMap<number, Float32Array>;
  /** regions to read back after the run: buffer index, first element, element count */
  readonly reads: readonly { readonly buffer: number; readonly offset: number; readonly length: number }[];
}

export class PlanExecutor {
  readonly #device: GPUDevice;
  readonly #plan: LaunchPlan;
  readonly #sizes: Readonly<Record<string, number>>;
  readonly #paramBuffer: GPUBuffer;
  readonly #elements: number[];
  readonly #kernels: CompiledKernel[];
  #workspace: Workspace | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(device: GPUDevice, plan: LaunchPlan, sizes: Record<string, number>, paramBuffer: GPUBuffer, kernels: CompiledKernel[]) {
    this.#device = device;
    this.#plan = plan;
    this.#sizes = sizes;
    this.#paramBuffer = paramBuffer;
    this.#kernels = kernels;
    this.#elements = plan.buffers.map((b) => evaluateDim(b.elements, sizes));
  }

  static async create(device: GPUDevice, plan: LaunchPlan, sizes: Record<string, number>, paramOffsets: readonly number[], paramCount: number): Promise<PlanExecutor> {
    const limit = device.limits.maxStorageBuffersPerShaderStage;
    const constants: Record<string, number> = {};
    plan.sizes.forEach((s, i) => (constants[`size_${i}`] = sizes[s.name]!));
    paramOffsets.forEach((offset, i) => (constants[`param_${i}`] = offset));
    const kernels = await Promise.all(
      plan.kernels.map(async (kernel) => {
        const storage = kernel.buffers.length + (kernel.usesParams ? 1 : 0);
        if (storage > limit) throw new Error(`kernel ${kernel.label} needs ${storage} storage buffers; this device allows ${limit}`);
        const width = Math.max(...kernel.widths.map((w) => evaluateDim(w, sizes)));
        const { pipeline, layout } = await pipelineFor(device, kernel, constants);
        return { kernel, pipeline, layout, workgroups: Math.ceil(width / plan.workgroupSize) };
      }),
    );
    const paramBuffer = device.createBuffer({ size: Math.max(4, paramCount * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${plan.cell}/params` });
    return new PlanExecutor(device, plan, sizes, paramBuffer, kernels);
  }

  get device(): GPUDevice {
    return this.#device;
  }

  writeParams(offset: number, data: Float32Array): void {
    this.#device.queue.writeBuffer(this.#paramBuffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  async readParams(offset: number, length: number): Promise<Float32Array> {
    return this.#serialize(async () => {
      const staging = this.#device.createBuffer({ size: Math.max(4, length * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      try {
        const encoder = this.#device.createCommandEncoder();
        if (length > 0) encoder.copyBufferToBuffer(this.#paramBuffer, offset * 4, staging, 0, length * 4);
        this.#device.queue.submit([encoder.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        return new Float32Array(staging.getMappedRange().slice(0, length * 4));
      } finally {
        staging.destroy();
      }
    });
  }

  /** Runs every kernel over the sequence and returns the requested regions. */
  run(request: RunRequest): Promise<Float32Array[]> {
    return this.#serialize(() => this.#run(request));
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new Error('this model was disposed'));
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #run(request: RunRequest): Promise<Float32Array[]> {
    const { steps, batch } = request;
    const device = this.#device;
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    if (batch > maxGroups || steps > maxGroups) throw new Error(`batch ${batch} and steps ${steps} must each be at most ${maxGroups}`);
    const readBytes = request.reads.reduce((n, r) => n + r.length * 4, 0);
    const ws = this.#workspaceFor(steps, batch, readBytes);
    for (const [index, data] of request.inputs) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);
    for (const [index, data] of request.initialSlots) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);

    const stride = this.#uniformStride();
    const encoder = device.createCommandEncoder({ label: `${this.#plan.cell}/forward` });
    const pass = encoder.beginComputePass();
    this.#kernels.forEach((k, i) => {
      if (k.kernel.phase !== 'hoisted') return;
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, ws.bindGroups[i]!, [0]);
      pass.dispatchWorkgroups(k.workgroups, batch, steps);
    });
    const stepKernels = this.#kernels.map((k, i) => ({ k, i })).filter(({ k }) => k.kernel.phase === 'step');
    for (let t = 0; t < steps; t++) {
      for (const { k, i } of stepKernels) {
        pass.setPipeline(k.pipeline);
        pass.setBindGroup(0, ws.bindGroups[i]!, [t * stride]);
        pass.dispatchWorkgroups(k.workgroups, batch, 1);
      }
    }
    pass.end();
    let at = 0;
    for (const r of request.reads) {
      if (r.length > 0) encoder.copyBufferToBuffer(ws.buffers[r.buffer]!, r.offset * 4, ws.staging, at, r.length * 4);
      at += r.length * 4;
    }
    device.queue.submit([encoder.finish()]);
    await ws.staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, readBytes));
    const bytes = ws.staging.getMappedRange(0, Math.max(4, readBytes)).slice(0);
    ws.staging.unmap();
    let offset = 0;
    return request.reads.map((r) => {
      const out = new Float32Array(bytes, offset, r.length);
      offset += r.length * 4;
      return out;
    });
  }

  #uniformStride(): number {
    return Math.max(UNIFORM_BYTES, this.#device.limits.minUniformBufferOffsetAlignment);
  }

  #workspaceFor(steps: number, batch: number, readBytes: number): Workspace {
    const current = this.#workspace;
    if (current && current.steps === steps && current.batch === batch && current.staging.size >= readBytes) return current;
    this.#releaseWorkspace();
    const device = this.#device;
    const maxBinding = device.limits.maxStorageBufferBindingSize;
    const buffers = this.#plan.buffers.map((spec, i) => {
      const size = (steps + spec.lags) * batch * this.#elements[i]! * 4;
      if (size > maxBinding) throw new Error(`${spec.kind} ${spec.name} needs ${size} bytes for ${steps} steps x batch ${batch}; this device binds at most ${maxBinding}: use fewer steps per call`);
      return device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${this.#plan.cell}/${spec.kind}/${spec.name}` });
    });
    const stride = this.#uniformStride();
    const uniforms = device.createBuffer({ size: stride * steps, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: `${this.#plan.cell}/launch` });
    const launch = new Uint32Array((stride * steps) / 4);
    for (let t = 0; t < steps; t++) launch.set([t, steps, batch, 0], (t * stride) / 4);
    device.queue.writeBuffer(uniforms, 0, launch);
    const bindGroups = this.#kernels.map(({ kernel, layout }) => {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms, offset: 0, size: UNIFORM_BYTES } }];
      if (kernel.usesParams) entries.push({ binding: entries.length, resource: { buffer: this.#paramBuffer } });
      for (const b of kernel.buffers) entries.push({ binding: entries.length, resource: { buffer: buffers[b.buffer]! } });
      return device.createBindGroup({ layout, entries, label: kernel.label });
    });
    const staging = device.createBuffer({ size: Math.max(4, readBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `${this.#plan.cell}/readback` });
    this.#workspace = { steps, batch, buffers, uniforms, bindGroups, staging };
    return this.#workspace;
  }

  #releaseWorkspace(): void {
    const ws = this.#workspace;
    if (!ws) return;
    for (const b of ws.buffers) b.destroy();
    ws.uniforms.destroy();
    ws.staging.destroy();
    this.#workspace = undefined;
  }

  /** Number of device buffers this executor holds now. */
  get bufferCount(): number {
    return 1 + (this.#workspace ? this.#workspace.buffers.length + 2 : 0);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#releaseWorkspace();
    this.#paramBuffer.destroy();
  }
}
