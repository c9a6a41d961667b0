/**
 * Runs a launch plan on a GPUDevice: the whole sequence, hoisted kernels and then every
 * step's kernels, in one command buffer and one submit, with no readback until the end.
 * The step index reaches kernels through a dynamic uniform offset.
 */
import type { LaunchPlan, PlanKernel, PlanVariant } from './plan.js';
import { evaluateDim } from './plan.js';

const UNIFORM_BYTES = 16;

interface CompiledKernel {
  readonly kernel: PlanKernel;
  readonly variant: PlanVariant;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** workgroups along x, invocations per workgroup */
  readonly groupsX: number;
  readonly workgroupSize: number;
  /** row blocks per dispatch: batch rows (step) or all steps' rows (hoisted), per tile */
  readonly rowBlocks: (steps: number) => number;
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

async function pipelineFor(device: GPUDevice, kernel: PlanKernel, wgsl: string, constants: Record<string, number>) {
  let cache = pipelineCache.get(device);
  if (!cache) pipelineCache.set(device, (cache = new Map()));
  const key = `${JSON.stringify(constants)}\n${kernel.usesParams}${JSON.stringify(kernel.buffers)}\n${wgsl}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = (async () => {
      const layout = layoutFor(device, kernel);
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: wgsl, label: kernel.label });
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

/**
 * Invocations per workgroup: up to 64, but small enough that the dispatch has at least 8
 * workgroups, since a CPU adapter (llvmpipe) runs each workgroup on one thread.
 */
function chooseWorkgroupSize(invocationsX: number, rowBlocks: number, limit: number): number {
  let size = Math.min(64, limit);
  while (size > 1 && Math.ceil(invocationsX / size) * rowBlocks < 8) size /= 2;
  return size;
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
  readonly #constants: Readonly<Record<string, number>>;
  readonly #compiled = new Map<number, Promise<CompiledKernel[]>>();
  #workspace: Workspace | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(device: GPUDevice, plan: LaunchPlan, sizes: Record<string, number>, paramBuffer: GPUBuffer, constants: Record<string, number>) {
    this.#device = device;
    this.#plan = plan;
    this.#sizes = sizes;
    this.#paramBuffer = paramBuffer;
    this.#constants = constants;
    this.#elements = plan.buffers.map((b) => evaluateDim(b.elements, sizes));
  }

  static async create(device: GPUDevice, plan: LaunchPlan, sizes: Record<string, number>, paramOffsets: readonly number[], paramCount: number, batch: number): Promise<PlanExecutor> {
    const paramBuffer = device.createBuffer({ size: Math.max(4, paramCount * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${plan.cell}/params` });
    const constants: Record<string, number> = {};
    plan.sizes.forEach((s, i) => (constants[`size_${i}`] = sizes[s.name]!));
    paramOffsets.forEach((offset, i) => (constants[`param_${i}`] = offset));
    const executor = new PlanExecutor(device, plan, sizes, paramBuffer, constants);
    try {
      await executor.#kernelsFor(batch);
    } catch (error) {
      executor.dispose();
      throw error;
    }
    return executor;
  }

  /** Every kernel compiled for a batch size, with its tile and workgroup shape chosen. */
  #kernelsFor(batch: number): Promise<CompiledKernel[]> {
    let compiled = this.#compiled.get(batch);
    if (!compiled) {
      compiled = Promise.all(this.#plan.kernels.map((kernel) => this.#compile(kernel, batch)));
      this.#compiled.set(batch, compiled);
      compiled.catch(() => this.#compiled.delete(batch));
    }
    return compiled;
  }

  async #compile(kernel: PlanKernel, batch: number): Promise<CompiledKernel> {
    const device = this.#device;
    const limit = device.limits.maxStorageBuffersPerShaderStage;
    const storage = kernel.buffers.length + (kernel.usesParams ? 1 : 0);
    if (storage > limit) throw new Error(`kernel ${kernel.label} needs ${storage} storage buffers; this device allows ${limit}`);
    const width = Math.max(...kernel.widths.map((w) => evaluateDim(w, this.#sizes)));
    // hoisted kernels see the rows of all steps; plan for sequences of at least 32 steps
    const rows = kernel.phase === 'hoisted' ? batch * 32 : batch;
    const variant = [...kernel.variants].sort((a, b) => b.rows - a.rows).find((v) => v.rows <= rows) ?? kernel.variants[0]!;
    const invocationsX = Math.ceil(width / variant.cols);
    const rowBlocks = (steps: number) => Math.ceil((kernel.phase === 'hoisted' ? steps * batch : batch) / variant.rows);
    const workgroupSize = chooseWorkgroupSize(invocationsX, rowBlocks(32), device.limits.maxComputeInvocationsPerWorkgroup);
    const { pipeline, layout } = await pipelineFor(device, kernel, variant.wgsl, { ...this.#constants, workgroup_size: workgroupSize });
    return { kernel, variant, pipeline, layout, groupsX: Math.ceil(invocationsX / workgroupSize), workgroupSize, rowBlocks };
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
    if (batch > maxGroups) throw new Error(`batch ${batch} must be at most ${maxGroups}`);
    const kernels = await this.#kernelsFor(batch);
    const readBytes = request.reads.reduce((n, r) => n + r.length * 4, 0);
    const ws = this.#workspaceFor(steps, batch, readBytes, kernels);
    for (const [index, data] of request.inputs) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);
    for (const [index, data] of request.initialSlots) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);

    const stride = this.#uniformStride();
    const encoder = device.createCommandEncoder({ label: `${this.#plan.cell}/forward` });
    const pass = encoder.beginComputePass();
    kernels.forEach((k, i) => {
      if (k.kernel.phase !== 'hoisted') return;
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, ws.bindGroups[i]!, [0]);
      const blocks = k.rowBlocks(steps);
      const y = Math.min(blocks, maxGroups);
      pass.dispatchWorkgroups(k.groupsX, y, Math.ceil(blocks / y));
    });
    const stepKernels = kernels.map((k, i) => ({ k, i })).filter(({ k }) => k.kernel.phase === 'step');
    for (let t = 0; t < steps; t++) {
      for (const { k, i } of stepKernels) {
        pass.setPipeline(k.pipeline);
        pass.setBindGroup(0, ws.bindGroups[i]!, [t * stride]);
        pass.dispatchWorkgroups(k.groupsX, k.rowBlocks(steps), 1);
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

  #workspaceFor(steps: number, batch: number, readBytes: number, kernels: readonly CompiledKernel[]): Workspace {
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
    const bindGroups = kernels.map(({ kernel, layout }) => {
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
