/**
 * The device buffers of one plan for one (steps, batch) shape: a sequence buffer per plan
 * buffer and the launch uniform. The executor, the trainer and tuning allocate them alike.
 */
import { storageOwners } from './liveness.js';
import { type PlanRunner, launchUniforms, writeLaunchSeed } from './plan-runner.js';

/** Device buffers for one (steps, batch) shape. */
export interface Workspace {
  readonly steps: number;
  readonly batch: number;
  /** per plan buffer; temps that share storage (runtime/liveness.ts) share one GPUBuffer */
  readonly buffers: GPUBuffer[];
  /** the buffers this workspace created, each once (not the shared ones) */
  readonly storage: readonly GPUBuffer[];
  readonly uniforms: GPUBuffer;
  readonly stride: number;
  /** the host copy of the launch uniform (see writeLaunchSeed) */
  readonly launch: Uint32Array<ArrayBuffer>;
}

/**
 * Allocates a plan's sequence buffers; `shared` supplies some of them (a backward pass reads
 * the forward's). Temps whose lifetimes do not overlap get one buffer, sized for the largest.
 */
export function allocateWorkspace(runner: PlanRunner, steps: number, batch: number, shared: ReadonlyMap<number, GPUBuffer> = new Map()): Workspace {
  const { device, plan } = runner;
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const elements = runner.elements();
  const owners = storageOwners(plan);
  // a buffer given by the caller holds only itself
  const ownerOf = (i: number): number => (shared.has(owners[i]!) ? i : owners[i]!);
  const bytes = new Map<number, number>();
  const names = new Map<number, string[]>();
  plan.buffers.forEach((spec, i) => {
    if (shared.has(i)) return;
    const size = (steps + spec.lags) * batch * elements[i]! * 4;
    if (size > maxBinding) throw new Error(`${spec.kind} ${spec.name} needs ${size} bytes for ${steps} steps x batch ${batch}; this device binds at most ${maxBinding}: use fewer steps per call`);
    const owner = ownerOf(i);
    bytes.set(owner, Math.max(bytes.get(owner) ?? 0, size));
    names.set(owner, [...(names.get(owner) ?? []), spec.name]);
  });
  const created = new Map<number, GPUBuffer>();
  for (const [owner, size] of bytes) {
    const spec = plan.buffers[owner]!;
    const label = `${plan.cell}/${spec.kind}/${names.get(owner)!.join('+')}`;
    created.set(owner, device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label }));
  }
  const buffers = plan.buffers.map((_, i) => shared.get(i) ?? created.get(ownerOf(i))!);
  const { buffer: uniforms, stride, data: launch } = launchUniforms(device, steps, batch, `${plan.cell}/launch`);
  return { steps, batch, buffers, storage: [...created.values()], uniforms, stride, launch };
}

/** Sets the dropout seed a workspace's kernels read (queued; nothing when unchanged). */
export function setSeed(device: GPUDevice, ws: Workspace, seed: number): void {
  writeLaunchSeed(device, { buffer: ws.uniforms, stride: ws.stride, data: ws.launch }, seed);
}

/** Destroys what allocateWorkspace created (not the shared buffers). */
export function releaseWorkspace(ws: Workspace): void {
  for (const b of ws.storage) b.destroy();
  ws.uniforms.destroy();
}
