/**
 * Training on the device: the training forward (the cell, its loss, and the values the
 * backward loads), the backward (a reverse scan), the parameter-gradient sums, gradient
 * clipping and the optimizer step, encoded into one command buffer and one submit. Only
 * the loss and the gradient norm are read back.
 */
import { readBack } from './executor.js';
import { type KernelTime, kernelTimeLabel, timeSubmits } from './kernel-times.js';
import { type Workspace, allocateWorkspace, releaseWorkspace, setSeed } from './workspace.js';
import type { SeqModel } from './model.js';
import { VALID_INPUT, validMask } from './lengths.js';
import { Optimizer, type OptimizerSpec } from './optimizer.js';
import { type PlanBindings, PlanRunner, type StepLoop, planConstants } from './plan-runner.js';
import type { LaunchPlan } from './plan.js';
import { type InputData, deviceInput, evaluateDim, inputStride, isInputData, tensorElements, transpose } from './plan.js';
import { stepSeed } from './random.js';
import { type TuningRow, tuneKernels } from './tune.js';

/** What `seqc compile --loss` embeds: the plans for one loss on one output. */
export interface TrainingPlans {
  readonly loss: { readonly kind: 'mse' | 'sigmoid-bce' | 'softmax-ce' | 'cotangent'; readonly output: string };
  readonly forward: LaunchPlan;
  readonly backward: LaunchPlan;
}

export interface TrainerOptions {
  readonly optimizer?: OptimizerSpec;
  /** clip gradients to this global norm (0: no clipping) */
  readonly clipNorm?: number;
  /** carry the final states into the next step (truncated BPTT over consecutive windows) */
  readonly stateful?: boolean;
  /**
   * seed of the dropout masks (default 0): step k draws its masks from a seed derived from
   * (seed, k), so every step has fresh masks and a run is reproducible from the seed
   */
  readonly seed?: number;
  /**
   * keep an exponential moving average of the parameters on the device, updated after every
   * step with this decay (0.995: about the last 200 steps); read it with averagedParams()
   */
  readonly averageDecay?: number;
  /** time the candidate tiles of the training kernels at the first step of each batch size and keep the fastest (runtime/tune.ts) */
  readonly tune?: boolean;
  /** how the training forward's and the backward's step loops run (CreateOptions.stepLoop; default 'auto') */
  readonly stepLoop?: StepLoop;
}

export interface TrainingBatch {
  /** [T, B, ...] per input, or [T, B] ids for a onehot input; an array alone for a cell with one input */
  readonly inputs?: InputData | Readonly<Record<string, InputData>>;
  /** the input of a cell whose input is named x, as in trainStep({ x, target }) */
  readonly x?: InputData;
  /** [T, B, N]: the output's target (one-hot or a distribution for softmax-ce) */
  readonly target: Float32Array;
  /** [T, B]: 1 for real steps, 0 for padding (default all 1, or 1 within `lengths`) */
  readonly mask?: Float32Array;
  /** [B] steps of each sequence, for a cell compiled with lengths (see ForwardOptions.lengths) */
  readonly lengths?: ArrayLike<number>;
  /** 'mean' (default) divides by the number of real steps x examples; 'sum' does not */
  readonly reduction?: 'mean' | 'sum';
  /** this step's learning rate, for a schedule (default: the optimizer's) */
  readonly learningRate?: number;
  /** states at the start, [B, N] or [lags, B, N]; stateful trainers carry them instead */
  readonly initialState?: Readonly<Record<string, ArrayLike<number>>>;
}

/** A training step's loss, and the gradients it sends back to the inputs and initial states (as in Gradients). */
export interface InputGradients {
  readonly loss: number;
  readonly inputs: Record<string, Float32Array>;
  /** as in Gradients; empty unless asked for (stepWithInputGradients's `initialStates`) */
  readonly initialStates: Record<string, Float32Array>;
}

export interface Gradients {
  readonly loss: number;
  /** row-major, like the parameters */
  readonly params: Record<string, Float32Array>;
  /** [T, B, ...] per input; none for a onehot input (ids have no gradient) */
  readonly inputs: Record<string, Float32Array>;
  /** [lags, B, N] per state, oldest first */
  readonly initialStates: Record<string, Float32Array>;
}

const TARGET = '__target';
const WEIGHT = '__weight';

interface Session {
  readonly steps: number;
  readonly batch: number;
  readonly forward: Workspace;
  readonly backward: Workspace;
  readonly groups: { forward: GPUBindGroup[]; backward: GPUBindGroup[] };
  readonly kernels: { forward: Awaited<ReturnType<PlanRunner['kernelsFor']>>; backward: Awaited<ReturnType<PlanRunner['kernelsFor']>> };
  readonly staging: GPUBuffer;
  /** per state buffer: room for its last `lags` slots, copied to the front between windows */
  readonly carry: Map<number, GPUBuffer>;
}

export class Trainer {
  readonly model: SeqModel;
  readonly plans: TrainingPlans;
  readonly grads: GPUBuffer;
  readonly #forward: PlanRunner;
  readonly #backward: PlanRunner;
  readonly #optimizer: Optimizer;
  readonly #stateful: boolean;
  readonly #seed: number;
  /** optimizer steps taken: the counter the next step's dropout seed derives from */
  #steps = 0;
  #session: Session | undefined;
  #carried = false;
  #disposed = false;
  /** the loss of the last step */
  lastLoss = Number.NaN;
  /** what tuning timed and chose (TrainerOptions.tune), at the first step of each batch size; empty without it */
  tuning: TuningRow[] = [];
  readonly #tune: boolean;
  lastGradientNorm = Number.NaN;

  private constructor(model: SeqModel, plans: TrainingPlans, forward: PlanRunner, backward: PlanRunner, grads: GPUBuffer, optimizer: Optimizer, stateful: boolean, seed: number, tune: boolean) {
    this.#tune = tune;
    this.model = model;
    this.plans = plans;
    this.#forward = forward;
    this.#backward = backward;
    this.grads = grads;
    this.#optimizer = optimizer;
    this.#stateful = stateful;
    this.#seed = seed >>> 0;
  }

  static async create(model: SeqModel, plans: TrainingPlans, options: TrainerOptions = {}): Promise<Trainer> {
    const { device, sizes, paramOffsets, paramCount } = model;
    const constants = planConstants(plans.forward, sizes, [...paramOffsets.values()].map((o) => o.offset), paramCount);
    const stepLoop = options.stepLoop ?? 'auto';
    const forward = new PlanRunner(device, plans.forward, sizes, constants, { stepLoop });
    const backward = new PlanRunner(device, plans.backward, sizes, constants, { stepLoop });
    await Promise.all([forward.kernelsFor(model.batch), backward.kernelsFor(model.batch)]);
    const grads = device.createBuffer({ size: (paramCount + 1) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: `${plans.forward.cell}/gradients` });
    const optimizer = await Optimizer.create(device, model.paramBuffer, grads, paramCount, options.optimizer ?? { kind: 'adam', learningRate: 1e-3 }, options.clipNorm ?? 0, options.averageDecay);
    return new Trainer(model, plans, forward, backward, grads, optimizer, options.stateful ?? false, options.seed ?? 0, options.tune ?? false);
  }

  /**
   * The seed the next step's dropout masks are drawn from (the launch uniform's `seed`);
   * `gradients` uses it too without advancing, so it shows the gradient the next step applies.
   */
  get nextStepSeed(): number {
    return stepSeed(this.#seed, this.#steps);
  }

  /** Forget carried states: the next step starts from the given or declared initial states. */
  resetState(): void {
    this.#carried = false;
  }

  /** One optimizer step on a batch: forward, loss, backward, clip, update; returns the loss. */
  step(batch: TrainingBatch): Promise<number> {
    return this.model.queue.run(async () => (await this.#step(batch, false)).loss);
  }

  /**
   * One optimizer step that also reads back the loss's gradient with respect to each input,
   * [T, B, ...] (taken before the update): what a layer below trains on; with
   * `initialStates`, also the initial states' (an encoder's final state, for its decoder),
   * each one more readback.
   */
  stepWithInputGradients(batch: TrainingBatch, options: { initialStates?: boolean } = {}): Promise<InputGradients> {
    return this.model.queue.run(() => this.#step(batch, true, options.initialStates ?? false));
  }

  async #step(batch: TrainingBatch, withInputs: boolean, withStates = false): Promise<InputGradients> {
    const { session, steps } = await this.#prepare(batch);
    this.#steps++;
    const encoder = this.model.device.createCommandEncoder({ label: `${this.plans.forward.cell}/train` });
    this.#refreshParams(encoder);
    const pass = encoder.beginComputePass();
    this.#encodeGradients(pass, session, steps);
    this.#optimizer.encode(pass, batch.learningRate);
    pass.end();
    if (this.#stateful) this.#encodeCarry(encoder, session, steps);
    encoder.copyBufferToBuffer(this.grads, this.model.paramCount * 4, session.staging, 0, 4);
    encoder.copyBufferToBuffer(this.#optimizer.status, 4, session.staging, 4, 4);
    this.model.device.queue.submit([encoder.finish()]);
    await session.staging.mapAsync(GPUMapMode.READ, 0, 8);
    const [loss, norm] = new Float32Array(session.staging.getMappedRange(0, 8).slice(0));
    session.staging.unmap();
    this.lastLoss = loss!;
    this.lastGradientNorm = norm!;
    if (!withInputs) return { loss: loss!, inputs: {}, initialStates: {} };
    return { loss: loss!, inputs: await this.#inputGradients(session, steps), initialStates: withStates ? await this.#initialStateGradients(session, steps) : {} };
  }

  async #inputGradients(session: Session, steps: number): Promise<Record<string, Float32Array>> {
    const bwd = this.plans.backward;
    const inputs: Record<string, Float32Array> = {};
    const elements = this.#backward.elements();
    for (const input of this.plans.forward.inputs) {
      const index = bwd.buffers.findIndex((b) => b.kind === 'readout' && b.name === `__d_${input.name}`);
      if (index >= 0 && !input.name.startsWith('__')) inputs[input.name] = await readBack(this.model.device, session.backward.buffers[index]!, 0, steps * session.batch * elements[index]!);
    }
    return inputs;
  }

  /** Gradients of the loss on a batch, without changing the parameters. */
  gradients(batch: TrainingBatch): Promise<Gradients> {
    return this.model.queue.run(async () => {
      const { session, steps } = await this.#prepare(batch);
      const device = this.model.device;
      const encoder = device.createCommandEncoder({ label: `${this.plans.forward.cell}/gradients` });
      this.#refreshParams(encoder);
      const pass = encoder.beginComputePass();
      this.#encodeGradients(pass, session, steps);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const all = await readBack(device, this.grads, 0, this.model.paramCount + 1);
      const params = this.#unpack(all);
      const inputs = await this.#inputGradients(session, steps);
      return { loss: all[this.model.paramCount]!, params, inputs, initialStates: await this.#initialStateGradients(session, steps) };
    });
  }

  /** The adjoint of each initial state, [lags, B, N]: what the first steps sent back to it. */
  async #initialStateGradients(session: Session, steps: number): Promise<Record<string, Float32Array>> {
    const bwd = this.plans.backward;
    const initialStates: Record<string, Float32Array> = {};
    for (const state of this.plans.forward.states) {
      const n = tensorElements(state, this.model.sizes);
      const out = new Float32Array(state.lags * session.batch * n);
      for (let j = 1; j <= state.lags; j++) {
        for (let k = j; k <= state.lags && k - j < steps; k++) {
          const index = bwd.buffers.findIndex((b) => b.kind === 'state' && b.name === `__d_${state.name}_${k}`);
          if (index < 0) continue;
          const sent = await readBack(this.model.device, session.backward.buffers[index]!, (k - j) * session.batch * n, session.batch * n);
          for (let i = 0; i < sent.length; i++) out[(state.lags - j) * session.batch * n + i]! += sent[i]!;
        }
      }
      initialStates[state.name] = out;
    }
    return initialStates;
  }

  /**
   * The moving average of the parameters over the steps so far (bias-corrected, so its
   * weights sum to one), row-major like getParams; needs `averageDecay`.
   */
  averagedParams(): Promise<Record<string, Float32Array>> {
    return this.model.queue.run(async () => {
      const optimizer = this.#optimizer;
      if (optimizer.averageDecay === undefined) throw new Error('this trainer keeps no parameter average: create it with averageDecay');
      if (optimizer.steps === 0) throw new Error('no parameter average before the first training step');
      const stored = await readBack(this.model.device, optimizer.average, 0, this.model.paramCount);
      const scale = optimizer.averageCorrection;
      for (let i = 0; i < stored.length; i++) stored[i]! *= scale;
      return this.#unpack(stored);
    });
  }

  /** Per-parameter row-major tensors from a buffer in the packed parameter layout. */
  #unpack(packed: Float32Array): Record<string, Float32Array> {
    const params: Record<string, Float32Array> = {};
    for (const p of this.model.plan.params) {
      const { offset, length } = this.model.paramOffsets.get(p.name)!;
      const stored = packed.slice(offset, offset + length);
      const [rows, cols] = p.shape.map((d) => evaluateDim(d, this.model.sizes));
      params[p.name] = p.columnMajor ? transpose(stored, cols!, rows!) : stored;
    }
    return params;
  }

  /**
   * Host time of each kernel over a whole batch (all its steps), the median and the fastest
   * of `repeats` runs, each kernel submitted alone, after the whole forward and backward in
   * one submit. The values computed are meaningless; only time counts.
   */
  profile(batch: TrainingBatch, repeats = 3): Promise<KernelTime[]> {
    return this.model.queue.run(async () => {
      const { session, steps } = await this.#prepare(batch);
      const timed = (kernel: string, encode: (pass: GPUComputePassEncoder) => void) =>
        timeSubmits(this.model.device, kernel, repeats, (encoder) => {
          this.#refreshParams(encoder);
          const pass = encoder.beginComputePass();
          encode(pass);
          pass.end();
        });
      const rows = [await timed('forward and backward, one submit', (pass) => this.#encodeGradients(pass, session, steps))];
      const plans = [
        { runner: this.#forward, kernels: session.kernels.forward, groups: session.groups.forward, stride: session.forward.stride },
        { runner: this.#backward, kernels: session.kernels.backward, groups: session.groups.backward, stride: session.backward.stride },
      ];
      for (const { runner, kernels, groups, stride } of plans) {
        for (let i = 0; i < kernels.length; i++) {
          const { kernel, variant } = kernels[i]!;
          rows.push(await timed(kernelTimeLabel(kernel, variant), (pass) => runner.encode(pass, kernels, groups, steps, stride, i)));
        }
      }
      return rows;
    });
  }

  /** The parameters' texture copy, where the kernels read one, from what the last step wrote. */
  #refreshParams(encoder: GPUCommandEncoder): void {
    // both plans read the one copy of the model's parameters: one refresh serves them
    (this.#forward.paramTexture ? this.#forward : this.#backward).refreshParams(encoder, this.model.paramBuffer);
  }

  #encodeGradients(pass: GPUComputePassEncoder, session: Session, steps: number): void {
    this.#forward.encode(pass, session.kernels.forward, session.groups.forward, steps, session.forward.stride);
    this.#backward.encode(pass, session.kernels.backward, session.groups.backward, steps, session.backward.stride);
  }

  /** The last `lags` slots of each state become the first ones for the next window. */
  #encodeCarry(encoder: GPUCommandEncoder, session: Session, steps: number): void {
    const elements = this.#forward.elements();
    for (const [i, scratch] of session.carry) {
      const spec = this.plans.forward.buffers[i]!;
      const slot = session.batch * elements[i]! * 4;
      // a buffer cannot be copied onto itself, so the slots go through a scratch buffer
      encoder.copyBufferToBuffer(session.forward.buffers[i]!, steps * slot, scratch, 0, spec.lags * slot);
      encoder.copyBufferToBuffer(scratch, 0, session.forward.buffers[i]!, 0, spec.lags * slot);
    }
    this.#carried = true;
  }

  async #prepare(batch: TrainingBatch): Promise<{ session: Session; steps: number }> {
    const model = this.model;
    const plan = this.plans.forward;
    const B = model.batch;
    const inputs = batch.inputs ?? (batch.x ? { x: batch.x } : {});
    const given: Record<string, InputData | undefined> = isInputData(inputs) ? { [plan.inputs[0]!.name]: inputs } : { ...inputs };
    const userInputs = plan.inputs.filter((i) => !i.name.startsWith('__'));
    const first = userInputs[0]!;
    const firstData = given[first.name];
    if (!isInputData(firstData)) throw new Error(`input ${first.name} is missing`);
    const steps = firstData.length / (B * inputStride(first, model.sizes));
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`input ${first.name} has ${firstData.length} elements, not a whole number of steps of batch ${B}`);
    const targetSize = tensorElements(plan.inputs.find((i) => i.name === TARGET)!, model.sizes);
    if (batch.target.length !== steps * B * targetSize) throw new Error(`target has ${batch.target.length} elements, expected ${steps * B * targetSize} ([T, B, N] = [${steps}, ${B}, ${targetSize}])`);
    const withLengths = plan.inputs.some((i) => i.name === VALID_INPUT);
    if (batch.lengths && !withLengths) throw new Error(`cell ${plan.cell} was compiled without per-sequence lengths; compile it with lengths (seqc compile --lengths) to pass them`);
    if (withLengths && (batch.lengths || !given[VALID_INPUT])) given[VALID_INPUT] = validMask(batch.lengths, steps, B);
    const mask = batch.mask ?? validMask(batch.lengths, steps, B);
    if (mask.length !== steps * B) throw new Error(`mask has ${mask.length} elements, expected ${steps * B} ([T, B])`);
    const valid = mask.reduce((a, b) => a + b, 0);
    const scale = batch.reduction === 'sum' ? 1 : 1 / Math.max(valid, 1);
    given[TARGET] = batch.target;
    given[WEIGHT] = mask.map((m) => m * scale);

    let session = this.#session;
    if (!session || session.steps !== steps || session.batch !== B) {
      this.#release();
      session = await this.#newSession(steps, B);
      this.#session = session;
      this.#carried = false;
    }
    const device = model.device;
    // the forward draws the masks and the backward redraws them: one seed for both
    setSeed(device, session.forward, this.nextStepSeed);
    setSeed(device, session.backward, this.nextStepSeed);
    plan.inputs.forEach((input) => {
      const data = given[input.name];
      const index = plan.buffers.findIndex((b) => b.kind === 'input' && b.name === input.name);
      if (!isInputData(data)) throw new Error(`input ${input.name} is missing`);
      const expected = steps * B * inputStride(input, model.sizes);
      if (data.length !== expected) throw new Error(`input ${input.name} has ${data.length} elements, expected ${expected}`);
      const stored = deviceInput(input, data, model.sizes, B);
      device.queue.writeBuffer(session!.forward.buffers[index]!, 0, stored.buffer, stored.byteOffset, stored.byteLength);
    });
    if (!(this.#stateful && this.#carried)) {
      const elements = this.#forward.elements();
      plan.buffers.forEach((spec, i) => {
        if (spec.kind !== 'state') return;
        const state = plan.states.find((s) => s.name === spec.name)!;
        const n = elements[i]!;
        const slots = new Float32Array(spec.lags * B * n);
        const value = batch.initialState?.[spec.name];
        if (value === undefined) slots.fill(state.initial);
        else if (value.length === B * n) for (let l = 0; l < spec.lags; l++) slots.set(Float32Array.from(value), l * B * n);
        else if (value.length === spec.lags * B * n) slots.set(Float32Array.from(value));
        else throw new Error(`initial state ${spec.name} has ${value.length} elements, expected ${B * n}`);
        device.queue.writeBuffer(session!.forward.buffers[i]!, 0, slots);
      });
    }
    return { session, steps };
  }

  async #newSession(steps: number, batch: number): Promise<Session> {
    const forward = allocateWorkspace(this.#forward, steps, batch);
    const fwdPlan = this.plans.forward;
    const shared = new Map<number, GPUBuffer>();
    this.plans.backward.buffers.forEach((spec, i) => {
      if (spec.kind !== 'input' && spec.kind !== 'load') return;
      const source = fwdPlan.buffers.findIndex((b) => b.name === spec.name && (spec.kind === 'input' ? b.kind === 'input' : b.kind === 'state' || b.kind === 'readout'));
      if (source < 0) throw new Error(`internal: the backward pass reads ${spec.name}, which the forward does not keep`);
      shared.set(i, forward.buffers[source]!);
    });
    const backward = allocateWorkspace(this.#backward, steps, batch, shared);
    if (this.#tune) this.tuning.push(...(await tuneKernels(this.#forward, steps, batch)), ...(await tuneKernels(this.#backward, steps, batch)));
    const [fk, bk] = await Promise.all([this.#forward.kernelsFor(batch, steps), this.#backward.kernelsFor(batch, steps)]);
    const bindings = (ws: Workspace): PlanBindings => ({ uniforms: ws.uniforms, params: this.model.paramBuffer, grads: this.grads, buffers: ws.buffers });
    const staging = this.model.device.createBuffer({ size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'train/readback' });
    const carry = new Map<number, GPUBuffer>();
    const elements = this.#forward.elements();
    fwdPlan.buffers.forEach((spec, i) => {
      if (spec.kind === 'state' && this.#stateful) {
        carry.set(i, this.model.device.createBuffer({ size: spec.lags * batch * elements[i]! * 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: `train/carry/${spec.name}` }));
      }
    });
    return {
      steps,
      batch,
      forward,
      backward,
      groups: { forward: this.#forward.bindGroups(fk, bindings(forward)), backward: this.#backward.bindGroups(bk, bindings(backward)) },
      kernels: { forward: fk, backward: bk },
      staging,
      carry,
    };
  }

  #release(): void {
    const s = this.#session;
    if (!s) return;
    releaseWorkspace(s.backward);
    releaseWorkspace(s.forward);
    s.staging.destroy();
    for (const b of s.carry.values()) b.destroy();
    this.#session = undefined;
  }

  /** Device buffers held now: gradients, optimizer state, and the session's workspaces. */
  get bufferCount(): number {
    const s = this.#session;
    return this.#disposed ? 0 : 1 + 5 + (s ? s.forward.storage.length + 1 + s.backward.storage.length + 1 + 1 + s.carry.size : 0);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#release();
    this.#optimizer.dispose();
    this.grads.destroy();
  }
}
