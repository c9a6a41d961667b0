/**
 * Runs a forward launch plan over whole sequences: hoisted kernels, then every step's
 * kernels, then the after kernels, in one command buffer and one submit, with one readback
 * at the end. Device buffers for a (steps, batch) shape are kept and reused until the
 * shape changes.
 */
import { type PlanBindings, PlanRunner } from './plan-runner.js';
import { type Workspace, allocateWorkspace, releaseWorkspace, setSeed } from './workspace.js';
import type { LaunchPlan } from './plan.js';
import { type TuningRow, tuneKernels } from './tune.js';
import { type KernelTime, kernelTimeLabel, timeRepeats, timeSubmits } from './kernel-times.js';

export interface RunRequest {
  readonly steps: number;
  readonly batch: number;
  /** per input buffer index: [T, B, N] */
  readonly inputs: ReadonlyMap<number, Float32Array>;
  /** per state buffer index: its first `lags` slots, [lags, B, N] */
  readonly initialSlots: ReadonlyMap<number, Float32Array>;
  /** regions to read back after the run: buffer index, first element, element count */
  readonly reads: readonly { readonly buffer: number; readonly offset: number; readonly length: number }[];
  /** the seed of the plan's dropout masks (default 0); inference plans have none */
  readonly seed?: number;
}

/** Serializes asynchronous work on one model: calls queue, never interleave. */
export class WorkQueue {
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('this model was disposed'));
    const result = this.#queue.then(work, work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.#closed = true;
  }
}

export async function readBack(device: GPUDevice, source: GPUBuffer, offset: number, length: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: Math.max(4, length * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder();
    if (length > 0) encoder.copyBufferToBuffer(source, offset * 4, staging, 0, length * 4);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Float32Array(staging.getMappedRange().slice(0, length * 4));
  } finally {
    staging.destroy();
  }
}

export class PlanExecutor {
  readonly #runner: PlanRunner;
  readonly #params: GPUBuffer;
  readonly #queue: WorkQueue;
  #workspace: (Workspace & { groups: Map<number, GPUBindGroup[]>; staging: GPUBuffer }) | undefined;

  readonly #tune: boolean;
  /** what tuning timed and chose, at the first run of each batch size and length class (with `tune`) */
  tuning: TuningRow[] = [];

  /** `tune`: time the candidate tiles at the first run of each batch size and length class and keep the fastest (tune.ts) */
  constructor(runner: PlanRunner, params: GPUBuffer, queue: WorkQueue, tune = false) {
    this.#runner = runner;
    this.#params = params;
    this.#queue = queue;
    this.#tune = tune;
  }

  get plan(): LaunchPlan {
    return this.#runner.plan;
  }

  /** Compiles kernels for a batch size ahead of the first run. */
  prepare(batch: number): Promise<unknown> {
    return this.#runner.kernelsFor(batch);
  }

  /** Runs every kernel over the sequence and returns the requested regions. */
  run(request: RunRequest): Promise<Float32Array[]> {
    return this.#queue.run(() => this.#run(request));
  }

  /**
   * Host time of the whole run (one submit and its readback, after a warm-up run) and of each
   * kernel alone over the same sequence, medians of `repeats`. The kernels run alone compute
   * nothing meaningful; the next run writes its inputs and initial states again.
   */
  profile(request: RunRequest, repeats = 3): Promise<KernelTime[]> {
    return this.#queue.run(async () => {
      await this.#run(request);
      const rows = [await timeRepeats('whole forward: one submit and the readback', repeats, () => this.#run(request))];
      const { steps, batch } = request;
      const runner = this.#runner;
      const ws = this.#workspace!;
      const kernels = await runner.kernelsFor(batch, steps);
      for (let i = 0; i < kernels.length; i++) {
        const { kernel, variant } = kernels[i]!;
        rows.push(await timeSubmits(runner.device, kernelTimeLabel(kernel, variant), repeats, (encoder) => runner.encodePass(encoder, this.#params, kernels, ws.groups.get(batch)!, steps, ws.stride, i)));
      }
      return rows;
    });
  }

  async #run(request: RunRequest): Promise<Float32Array[]> {
    const { steps, batch } = request;
    const runner = this.#runner;
    const device = runner.device;
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    if (batch > maxGroups) throw new Error(`batch ${batch} must be at most ${maxGroups}`);
    // before any workspace of this shape binds the estimate's kernels
    if (this.#tune) this.tuning.push(...(await tuneKernels(runner, steps, batch)));
    const kernels = await runner.kernelsFor(batch, steps);
    const readBytes = Math.max(4, request.reads.reduce((n, r) => n + r.length * 4, 0));
    let ws = this.#workspace;
    if (!ws || ws.steps !== steps || ws.batch !== batch || ws.staging.size < readBytes) {
      this.#release();
      const fresh = allocateWorkspace(runner, steps, batch);
      const bindings: PlanBindings = { uniforms: fresh.uniforms, params: this.#params, buffers: fresh.buffers };
      const staging = device.createBuffer({ size: readBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `${runner.plan.cell}/readback` });
      ws = { ...fresh, staging, groups: new Map([[batch, runner.bindGroups(kernels, bindings)]]) };
      this.#workspace = ws;
    }
    setSeed(device, ws, request.seed ?? 0);
    for (const [index, data] of request.inputs) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);
    for (const [index, data] of request.initialSlots) device.queue.writeBuffer(ws.buffers[index]!, 0, data.buffer, data.byteOffset, data.byteLength);
    const encoder = device.createCommandEncoder({ label: `${runner.plan.cell}/forward` });
    runner.encodePass(encoder, this.#params, kernels, ws.groups.get(batch)!, steps, ws.stride);
    let at = 0;
    for (const r of request.reads) {
      if (r.length > 0) encoder.copyBufferToBuffer(ws.buffers[r.buffer]!, r.offset * 4, ws.staging, at, r.length * 4);
      at += r.length * 4;
    }
    device.queue.submit([encoder.finish()]);
    await ws.staging.mapAsync(GPUMapMode.READ, 0, readBytes);
    const bytes = ws.staging.getMappedRange(0, readBytes).slice(0);
    ws.staging.unmap();
    let offset = 0;
    return request.reads.map((r) => {
      const out = new Float32Array(bytes, offset, r.length);
      offset += r.length * 4;
      return out;
    });
  }

  #release(): void {
    if (!this.#workspace) return;
    releaseWorkspace(this.#workspace);
    this.#workspace.staging.destroy();
    this.#workspace = undefined;
  }

  /** Number of device buffers this executor holds now. */
  get bufferCount(): number {
    return this.#workspace ? this.#workspace.storage.length + 2 : 0;
  }

  dispose(): void {
    this.#release();
  }
}
