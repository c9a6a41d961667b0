/**
 * Optimizer kernels over the packed parameter and gradient buffers (one layout for both, so
 * every update is elementwise): the global gradient norm (for clipping), then SGD with
 * momentum or Adam with decoupled weight decay, and an exponential moving average of the
 * updated parameters (Polyak averaging) kept beside them. Hyperparameters come from a uniform
 * written before each step, so changing them (a schedule) needs no recompilation.
 */

export type OptimizerSpec =
  | { readonly kind: 'sgd'; readonly learningRate: number; readonly momentum?: number }
  | { readonly kind: 'adam'; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number; readonly weightDecay?: number };

const REDUCE_GROUP = 256;
/** The hyperparameter uniform, written before each step; `average` is the average's decay, negative when none is kept. */
const HYPER = `struct Hyper { lr: f32, beta1: f32, beta2: f32, eps: f32, decay: f32, momentum: f32, step: f32, clip: f32, average: f32 }`;
/** its 9 f32, rounded up to a multiple of 16 bytes */
const HYPER_BYTES = 48;

const NORM_PARTIALS = /* wgsl */ `
override count: u32;
@group(0) @binding(0) var<storage, read> grads: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
var<workgroup> scratch: array<f32, ${REDUCE_GROUP}>;
@compute @workgroup_size(${REDUCE_GROUP})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var sum: f32 = 0.0;
  for (var i = wid.x * ${REDUCE_GROUP}u + li; i < count; i = i + groups.x * ${REDUCE_GROUP}u) {
    let g = grads[i];
    sum = sum + g * g;
  }
  scratch[li] = sum;
  workgroupBarrier();
  for (var half = ${REDUCE_GROUP / 2}u; half > 0u; half = half / 2u) {
    if (li < half) { scratch[li] = scratch[li] + scratch[li + half]; }
    workgroupBarrier();
  }
  if (li == 0u) { partials[wid.x] = scratch[0]; }
}`;

const NORM_FINISH = /* wgsl */ `
${HYPER}
override groups: u32;
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> status: array<f32>;
@group(0) @binding(2) var<uniform> hyper: Hyper;
@compute @workgroup_size(1)
fn main() {
  var sum: f32 = 0.0;
  for (var i = 0u; i < groups; i = i + 1u) { sum = sum + partials[i]; }
  let norm = sqrt(sum);
  var scale: f32 = 1.0;
  if (hyper.clip > 0.0 && norm > hyper.clip) { scale = hyper.clip / norm; }
  status[0] = scale;
  status[1] = norm;
}`;

const UPDATE = (kind: OptimizerSpec['kind']) => /* wgsl */ `
${HYPER}
override count: u32;
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> first: array<f32>;
@group(0) @binding(3) var<storage, read_write> second: array<f32>;
@group(0) @binding(4) var<storage, read> status: array<f32>;
@group(0) @binding(5) var<uniform> hyper: Hyper;
@group(0) @binding(6) var<storage, read_write> average: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * 64u;
  if (i >= count) { return; }
  let g = grads[i] * status[0];
${kind === 'sgd'
    ? `  let v = hyper.momentum * first[i] + g;
  first[i] = v;
  let p = params[i] - hyper.lr * v;`
    : `  let m = hyper.beta1 * first[i] + (1.0 - hyper.beta1) * g;
  let s = hyper.beta2 * second[i] + (1.0 - hyper.beta2) * g * g;
  first[i] = m;
  second[i] = s;
  let mhat = m / (1.0 - pow(hyper.beta1, hyper.step));
  let shat = s / (1.0 - pow(hyper.beta2, hyper.step));
  let p = params[i] - hyper.lr * (mhat / (sqrt(shat) + hyper.eps) + hyper.decay * params[i]);`}
  params[i] = p;
  // hyper.average is the average's decay, or a negative number when none is kept
  if (hyper.average >= 0.0) { average[i] = hyper.average * average[i] + (1.0 - hyper.average) * p; }
  _ = second[0];
  _ = average[0];
}`;

interface Pipelines {
  readonly partials: GPUComputePipeline;
  readonly finish: GPUComputePipeline;
  readonly update: GPUComputePipeline;
}

export class Optimizer {
  readonly #device: GPUDevice;
  readonly #count: number;
  readonly #spec: OptimizerSpec;
  readonly #clip: number;
  readonly #buffers: GPUBuffer[];
  readonly #hyper: GPUBuffer;
  /** [clip scale, gradient norm] of the last step */
  readonly status: GPUBuffer;
  readonly #pipelines: Pipelines;
  readonly #groups: readonly [GPUBindGroup, GPUBindGroup, GPUBindGroup];
  readonly #reduceGroups: number;
  /** the decay of the parameter average, or undefined when none is kept */
  readonly averageDecay: number | undefined;
  /** the moving average of the parameters (before bias correction), when one is kept */
  readonly average: GPUBuffer;
  #step = 0;

  private constructor(device: GPUDevice, params: GPUBuffer, grads: GPUBuffer, count: number, spec: OptimizerSpec, clip: number, pipelines: Pipelines, reduceGroups: number, averageDecay: number | undefined) {
    this.#device = device;
    this.#count = count;
    this.#spec = spec;
    this.#clip = clip;
    this.averageDecay = averageDecay;
    this.#pipelines = pipelines;
    this.#reduceGroups = reduceGroups;
    const storage = (size: number, label: string) => device.createBuffer({ size: Math.max(4, size * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label });
    const partials = storage(reduceGroups, 'optimizer/partials');
    const first = storage(count, 'optimizer/first-moment');
    const second = storage(spec.kind === 'adam' ? count : 1, 'optimizer/second-moment');
    this.status = storage(2, 'optimizer/status');
    this.average = storage(averageDecay === undefined ? 1 : count, 'optimizer/parameter-average');
    this.#hyper = device.createBuffer({ size: HYPER_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'optimizer/hyperparameters' });
    this.#buffers = [partials, first, second, this.status, this.#hyper, this.average];
    const group = (pipeline: GPUComputePipeline, buffers: GPUBuffer[]) =>
      device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    this.#groups = [
      group(pipelines.partials, [grads, partials]),
      group(pipelines.finish, [partials, this.status, this.#hyper]),
      group(pipelines.update, [params, grads, first, second, this.status, this.#hyper, this.average]),
    ];
  }

  /**
   * `clip` > 0 scales the gradients down to that global norm when they exceed it;
   * `averageDecay` in [0, 1) keeps a moving average of the parameters, updated every step.
   */
  static async create(device: GPUDevice, params: GPUBuffer, grads: GPUBuffer, count: number, spec: OptimizerSpec, clip = 0, averageDecay?: number): Promise<Optimizer> {
    if (averageDecay !== undefined && !(averageDecay >= 0 && averageDecay < 1)) throw new Error(`parameter average decay ${averageDecay}: expected a number in [0, 1)`);
    const reduceGroups = Math.max(1, Math.min(64, Math.ceil(count / REDUCE_GROUP)));
    const pipeline = (code: string, constants: Record<string, number>, label: string) =>
      device.createComputePipelineAsync({ layout: 'auto', label, compute: { module: device.createShaderModule({ code, label }), entryPoint: 'main', constants } });
    const [partials, finish, update] = await Promise.all([
      pipeline(NORM_PARTIALS, { count }, 'optimizer/norm'),
      pipeline(NORM_FINISH, { groups: reduceGroups }, 'optimizer/clip'),
      pipeline(UPDATE(spec.kind), { count }, `optimizer/${spec.kind}`),
    ]);
    return new Optimizer(device, params, grads, count, spec, clip, { partials, finish, update }, reduceGroups, averageDecay);
  }

  /**
   * Encodes norm, clip and update; call after the gradients are complete in the same pass.
   * `learningRate` overrides the spec's for this step (a schedule).
   */
  encode(pass: GPUComputePassEncoder, learningRate = this.#spec.learningRate): void {
    if (!(learningRate >= 0) || !Number.isFinite(learningRate)) throw new Error(`learning rate ${learningRate}: expected a finite number >= 0`);
    this.#step++;
    const s = this.#spec;
    const hyper = new Float32Array([
      learningRate,
      s.kind === 'adam' ? s.beta1 ?? 0.9 : 0,
      s.kind === 'adam' ? s.beta2 ?? 0.999 : 0,
      s.kind === 'adam' ? s.epsilon ?? 1e-8 : 0,
      s.kind === 'adam' ? s.weightDecay ?? 0 : 0,
      s.kind === 'sgd' ? s.momentum ?? 0 : 0,
      this.#step,
      this.#clip,
      this.averageDecay ?? -1,
    ]);
    this.#device.queue.writeBuffer(this.#hyper, 0, hyper);
    pass.setPipeline(this.#pipelines.partials);
    pass.setBindGroup(0, this.#groups[0]);
    pass.dispatchWorkgroups(this.#reduceGroups);
    pass.setPipeline(this.#pipelines.finish);
    pass.setBindGroup(0, this.#groups[1]);
    pass.dispatchWorkgroups(1);
    pass.setPipeline(this.#pipelines.update);
    pass.setBindGroup(0, this.#groups[2]);
    const groups = Math.ceil(this.#count / 64);
    const x = Math.min(groups, this.#device.limits.maxComputeWorkgroupsPerDimension);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
  }

  get steps(): number {
    return this.#step;
  }

  /** What the stored average is scaled by so that its weights sum to one (as Adam corrects its moments). */
  get averageCorrection(): number {
    if (this.averageDecay === undefined || this.#step === 0) return Number.NaN;
    return 1 / (1 - this.averageDecay ** this.#step);
  }

  dispose(): void {
    for (const b of this.#buffers) b.destroy();
  }
}
