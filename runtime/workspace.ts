/**
 * The device buffers of one plan for one (steps, batch) shape: a sequence buffer per plan
 * buffer and the launch uniform. The executor, the trainer and tuning allocate them alike.
 */
import { type PlanRunner, launchUniforms, writeLaunchSeed } from './plan-runner.js';

/** Device buffers for one (steps, batch) shape. */
export interface Workspace {
  readonly steps: number;
  readonly batch: number;
  readonly buffers: GPUBuffer[];
  readonly uniforms: GPUBuffer;
  readonly stride: number;
  /** the host copy of the launch uniform (see writeLaunchSeed) */
  readonly launch: Uint32Array<ArrayBuffer>;
}

/** Allocates a plan's sequence buffers; `shared` supplies some of them (a backward pass reads the forward's). */
export function allocateWorkspace(runner: PlanRunner, steps: number, batch: number, shared: ReadonlyMap<number, GPUBuffer> = new Map()): Workspace {
  const { device, plan } = runner;
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const elements = runner.elements();
  const buffers = plan.buffers.map((spec, i) => {
    const given = shared.get(i);
    if (given) return given;
    const size = (steps + spec.lags) * batch * elements[i]! * 4;
    if (size > maxBinding) throw new Error(`${spec.kind} ${spec.name} needs ${size} bytes for ${steps} steps x batch ${batch}; this device binds at most ${maxBinding}: use fewer steps per call`);
    return device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${plan.cell}/${spec.kind}/${spec.name}` });
  });
  const { buffer: uniforms, stride, data: launch } = launchUniforms(device, steps, batch, `${plan.cell}/launch`);
  return { steps, batch, buffers, uniforms, stride, launch };
}

/** Sets the dropout seed a workspace's kernels read (queued; nothing when unchanged). */
export function setSeed(device: GPUDevice, ws: Workspace, seed: number): void {
  writeLaunchSeed(device, { buffer: ws.uniforms, stride: ws.stride, data: ws.launch }, seed);
}

/** Destroys what allocateWorkspace created (not the shared buffers). */
export function releaseWorkspace(ws: Workspace, shared: ReadonlyMap<number, GPUBuffer> = new Map()): void {
  ws.buffers.forEach((b, i) => {
    if (!shared.has(i)) b.destroy();
  });
  ws.uniforms.destroy();
}

