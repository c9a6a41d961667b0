/**
 * A compiled cell bound to sizes and a device: the object a compiled module's `create...`
 * returns. Parameters by name as Float32Array; forward over a whole sequence.
 */
import { type DeviceInfo, getDevice } from './device.js';
import { PlanExecutor, type RunRequest, WorkQueue, readBack } from './executor.js';
import type { KernelTime } from './kernel-times.js';
import { PlanRunner, type StepLoop, checkStepLoop, planConstants } from './plan-runner.js';
import { releaseParamTexture } from './param-texture.js';
import { type ParamPrecision, releaseHalfParams } from './param-halves.js';
import type { TuningRow } from './tune.js';
import { Random, initialize } from './init.js';
import { VALID_INPUT, validMask, zeroPadding } from './lengths.js';
import type { LaunchPlan } from './plan.js';
import { type InputData, PARAM_ALIGNMENT, deviceInput, evaluateDim, inputStride, isInputData, tensorElements, transpose } from './plan.js';
import { type Gradients, type InputGradients, Trainer, type TrainerOptions, type TrainingBatch, type TrainingPlans } from './trainer.js';
import { host } from './host.js';
import { type SafetensorsInput, decodeSafetensors, encodeSafetensors } from './safetensors.js';

export interface CreateOptions<Sizes extends string = string> {
  /** values of the cell's size variables; sizes declared with a default may be left out */
  readonly sizes?: Partial<Record<Sizes, number>>;
  /** batch size B used by forward unless a call says otherwise (default 1) */
  readonly batch?: number;
  /** seed of the parameter initializers (default 0) */
  readonly seed?: number;
  /** a device to run on; by default one is found (see getDevice) and shared */
  readonly device?: GPUDevice;
  /** optimizer, clipping and statefulness for trainStep (needs a module compiled with --loss) */
  readonly training?: TrainerOptions;
  /**
   * Time the candidate tiles of each kernel on the device at the first forward of each batch
   * size and keep the fastest, where the estimate is unsure (runtime/tune.ts): seconds of
   * compiling in that call, for a model that then runs long on one shape. `training.tune`
   * does the same for trainStep.
   */
  readonly tune?: boolean;
  /**
   * How forward's kernels store the parameters they read (default 'f32'). 'f16': a copy
   * rounded to halves, typed f16 where the device offers `shader-f16` and packed two to a
   * u32 elsewhere, is what they read; they still compute in f32 (runtime/param-halves.ts).
   * getParam, checkpoints and trainStep keep the f32 parameters.
   */
  readonly paramPrecision?: ParamPrecision;
  /**
   * How forward runs the step loop (default 'auto': the persistent kernel or a dispatch per
   * step, whichever the runtime expects to be faster at each batch size, or tuning measures
   * so). 'persistent' and 'stepped' force one; training takes its own (TrainerOptions.stepLoop).
   */
  readonly stepLoop?: StepLoop;
}

export interface ForwardOptions {
  /** batch size for this call; the input's length must be steps x batch x features */
  readonly batch?: number;
  /**
   * [B] steps of each sequence (a cell compiled with lengths): states hold past a sequence's
   * length, so its final state is the one at its last step, and outputs there are zero
   */
  readonly lengths?: ArrayLike<number>;
}

export interface ForwardResult<Outputs extends string = string, States extends string = string> {
  /** every step's outputs, each [T, B, N] */
  readonly outputs: Record<Outputs, Float32Array>;
  /** each state after the last step, [B, N]; pass it as the next call's initial state */
  readonly states: Record<States, Float32Array>;
  readonly steps: number;
  readonly batch: number;
}

export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SizeError';
  }
}

function bindSizes(plan: LaunchPlan, given: Readonly<Record<string, number | undefined>>): Record<string, number> {
  const sizes: Record<string, number> = {};
  const known = new Set(plan.sizes.map((s) => s.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw new SizeError(`cell ${plan.cell} has no size ${name}; its sizes are ${[...known].join(', ')}`);
  }
  for (const s of plan.sizes) {
    const value = given[s.name] ?? s.default;
    if (value === undefined) throw new SizeError(`size ${s.name} of cell ${plan.cell} has no value: pass sizes: { ${s.name}: <n> } or declare \`size ${s.name} = <n>\` in the cell`);
    if (!Number.isInteger(value) || value < 1) throw new SizeError(`size ${s.name} must be a whole number >= 1, got ${value}`);
    sizes[s.name] = value;
  }
  return sizes;
}

export class SeqModel<Sizes extends string = string, Params extends string = string, Inputs extends string = string, Outputs extends string = string, States extends string = string> {
  readonly plan: LaunchPlan;
  readonly sizes: Readonly<Record<Sizes, number>>;
  readonly batch: number;
  /** which adapter runs this model, e.g. "Dawn (Node) OpenGL ES backend (compatibility mode)" */
  readonly deviceDescription: string;
  readonly device: GPUDevice;
  /** every parameter, packed at the offsets below, in the layout the plan chose */
  readonly paramBuffer: GPUBuffer;
  readonly paramCount: number;
  readonly paramOffsets: ReadonlyMap<string, { offset: number; length: number }>;
  /** every device call of this model goes through it, in order */
  readonly queue = new WorkQueue();
  readonly #executor: PlanExecutor;
  #training: { plans: TrainingPlans; options: TrainerOptions; trainer?: Promise<Trainer>; ready?: Trainer } | undefined;
  #disposed = false;

  private constructor(plan: LaunchPlan, sizes: Record<string, number>, batch: number, description: string, device: GPUDevice, offsets: Map<string, { offset: number; length: number }>, paramCount: number, tune: boolean, paramPrecision: ParamPrecision, stepLoop: StepLoop) {
    this.plan = plan;
    this.sizes = sizes as Record<Sizes, number>;
    this.batch = batch;
    this.deviceDescription = description;
    this.device = device;
    this.paramOffsets = offsets;
    this.paramCount = paramCount;
    this.paramBuffer = device.createBuffer({ size: Math.max(16, paramCount * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${plan.cell}/params` });
    const constants = planConstants(plan, sizes, [...offsets.values()].map((o) => o.offset), paramCount);
    this.#executor = new PlanExecutor(new PlanRunner(device, plan, sizes, constants, { paramPrecision, stepLoop }), this.paramBuffer, this.queue, tune);
  }

  static async create<S extends string, P extends string, I extends string, O extends string, St extends string>(plan: LaunchPlan, options: CreateOptions<S> = {}, training?: TrainingPlans): Promise<SeqModel<S, P, I, O, St>> {
    if (plan.format !== 'seqc-plan-1') throw new Error(`unsupported plan format ${String(plan.format)}: recompile with this version of seqc`);
    const sizes = bindSizes(plan, options.sizes ?? {});
    const batch = options.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1) throw new SizeError(`batch must be a whole number >= 1, got ${batch}`);
    const precision = options.paramPrecision ?? 'f32';
    if (precision !== 'f32' && precision !== 'f16') throw new Error(`paramPrecision must be 'f32' or 'f16', got ${String(precision)}`);
    const stepLoop = checkStepLoop(plan, options.stepLoop ?? 'auto');
    const offsets = new Map<string, { offset: number; length: number }>();
    let total = 0;
    for (const p of plan.params) {
      const length = tensorElements(p, sizes);
      offsets.set(p.name, { offset: total, length });
      total += Math.ceil(length / PARAM_ALIGNMENT) * PARAM_ALIGNMENT;
    }
    let info: Pick<DeviceInfo, 'device' | 'description'>;
    if (options.device) info = { device: options.device, description: 'a device given by the caller' };
    else info = await getDevice();
    const model = new SeqModel<S, P, I, O, St>(plan, sizes, batch, info.description, info.device, offsets, total, options.tune ?? false, precision, stepLoop);
    try {
      await model.#executor.prepare(batch);
    } catch (error) {
      model.dispose();
      throw error;
    }
    if (training) model.#training = { plans: training, options: options.training ?? {} };
    const random = new Random(options.seed ?? 0);
    for (const p of plan.params) {
      model.setParam(p.name as P, initialize(p.init, p.shape.map((d) => evaluateDim(d, sizes)), random));
    }
    return model;
  }

  /** What tuning timed and chose (CreateOptions.tune): forward runs, then trainStep's kernels; empty without it. */
  get tuning(): readonly TuningRow[] {
    return [...this.#executor.tuning, ...(this.#training?.ready?.tuning ?? [])];
  }

  get paramNames(): Params[] {
    return this.plan.params.map((p) => p.name as Params);
  }

  /** The shape of a parameter with sizes bound, e.g. [1024, 128]. */
  paramShape(name: Params): number[] {
    const p = this.plan.params.find((q) => q.name === name);
    if (!p) throw new Error(`cell ${this.plan.cell} has no param ${name}; its params are ${this.paramNames.join(', ')}`);
    return p.shape.map((d) => evaluateDim(d, this.sizes));
  }

  #slot(name: string): { offset: number; length: number } {
    const slot = this.paramOffsets.get(name);
    if (!slot) throw new Error(`cell ${this.plan.cell} has no param ${name}; its params are ${this.paramNames.join(', ')}`);
    return slot;
  }

  setParam(name: Params, data: ArrayLike<number>): void {
    const { offset, length } = this.#slot(name);
    if (data.length !== length) throw new Error(`param ${name} has ${length} elements (${this.paramShape(name).join(' x ')}), got ${data.length}`);
    const values = Float32Array.from(data);
    const [rows, cols] = this.paramShape(name) as [number, number];
    const stored = this.#isColumnMajor(name) ? transpose(values, rows, cols) : values;
    this.device.queue.writeBuffer(this.paramBuffer, offset * 4, stored.buffer, stored.byteOffset, stored.byteLength);
  }

  #isColumnMajor(name: string): boolean {
    return this.plan.params.find((p) => p.name === name)?.columnMajor ?? false;
  }

  setParams(values: Partial<Record<Params, ArrayLike<number>>>): void {
    for (const [name, data] of Object.entries(values)) this.setParam(name as Params, data as ArrayLike<number>);
  }

  async getParam(name: Params): Promise<Float32Array> {
    const { offset, length } = this.#slot(name);
    const stored = await this.queue.run(() => readBack(this.device, this.paramBuffer, offset, length));
    if (!this.#isColumnMajor(name)) return stored;
    const [rows, cols] = this.paramShape(name) as [number, number];
    return transpose(stored, cols, rows);
  }

  async getParams(): Promise<Record<Params, Float32Array>> {
    const out = {} as Record<Params, Float32Array>;
    for (const name of this.paramNames) out[name] = await this.getParam(name);
    return out;
  }

  /**
   * Where forward's time goes on this device: the whole forward (one submit and the readback)
   * and then each kernel alone over the same sequence, host-timed medians of `repeats` runs
   * (KernelTime.ms) after a warm-up. Takes forward's arguments; the outputs are not returned.
   */
  profile(x: InputData | Partial<Record<Inputs, InputData>>, initialState?: Partial<Record<States, ArrayLike<number>>>, options: ForwardOptions & { readonly repeats?: number } = {}): Promise<KernelTime[]> {
    return this.#executor.profile(this.#request(x, initialState, options), options.repeats);
  }

  /** forward's arguments checked and laid out as the device reads them, with the regions to read back */
  #request(x: InputData | Partial<Record<Inputs, InputData>>, initialState: Partial<Record<States, ArrayLike<number>>> | undefined, options: ForwardOptions): RunRequest {
    const { plan, sizes } = this;
    const batch = options.batch ?? this.batch;
    const userInputs = plan.inputs.filter((i) => i.name !== VALID_INPUT);
    const given: Record<string, InputData | undefined> = isInputData(x) ? { [userInputs[0]?.name ?? 'x']: x } : { ...(x as Record<string, InputData>) };
    if (isInputData(x) && userInputs.length !== 1) throw new Error(`cell ${plan.cell} has ${userInputs.length} inputs; pass a record { ${userInputs.map((i) => i.name).join(', ')} }`);
    const withLengths = userInputs.length < plan.inputs.length;
    if (options.lengths && !withLengths) throw new Error(`cell ${plan.cell} was compiled without per-sequence lengths; compile it with lengths (seqc compile --lengths) to pass them`);
    if (withLengths) {
      const first = userInputs[0]!;
      const data = given[first.name];
      const t = isInputData(data) ? data.length / (batch * inputStride(first, sizes)) : Number.NaN;
      // without lengths every step is valid, unless a caller that built the mask itself passed it
      if (Number.isInteger(t) && t >= 1 && (options.lengths || !given[VALID_INPUT])) given[VALID_INPUT] = validMask(options.lengths, t, batch);
    }
    let steps: number | undefined;
    const inputs = new Map<number, Float32Array>();
    plan.inputs.forEach((input, index) => {
      const data = given[input.name];
      if (!isInputData(data)) {
        throw new Error(input.onehot
          ? `input ${input.name} is missing: pass its ids, an Int32Array [T, ${batch}] of whole numbers in [0, ${tensorElements(input, sizes)})`
          : `input ${input.name} is missing: pass a Float32Array [T, ${batch}, ${input.shapeText.slice(1, -1)}]`);
      }
      const perStep = batch * inputStride(input, sizes);
      const t = data.length / perStep;
      const what = input.onehot ? `${batch} ids` : `batch ${batch} x ${input.shapeText} (${perStep} each)`;
      if (!Number.isInteger(t) || t < 1) throw new Error(`input ${input.name} has ${data.length} elements, not a whole number of steps of ${what}`);
      if (steps !== undefined && t !== steps) throw new Error(`inputs disagree on the number of steps: ${steps} and ${t}`);
      steps = t;
      inputs.set(plan.buffers.findIndex((b) => b.kind === 'input' && b.name === input.name) ?? index, deviceInput(input, data, sizes, batch));
    });
    if (steps === undefined) throw new Error(`cell ${plan.cell} has no inputs; forward needs at least one`);

    const initialSlots = new Map<number, Float32Array>();
    plan.states.forEach((state) => {
      const buffer = plan.buffers.findIndex((b) => b.kind === 'state' && b.name === state.name);
      const n = tensorElements(state, sizes);
      const slots = new Float32Array(state.lags * batch * n);
      const value = initialState?.[state.name as States];
      if (value === undefined) slots.fill(state.initial);
      else if (value.length === batch * n) for (let l = 0; l < state.lags; l++) slots.set(Float32Array.from(value), l * batch * n);
      else if (value.length === state.lags * batch * n) slots.set(Float32Array.from(value));
      else throw new Error(`initial state ${state.name} has ${value.length} elements, expected ${batch * n} ([B, N] = [${batch}, ${n}])`);
      initialSlots.set(buffer, slots);
    });

    const reads: { buffer: number; offset: number; length: number }[] = [];
    for (const out of plan.outputs) {
      const buffer = plan.buffers.findIndex((b) => b.name === out.name && (b.kind === 'state' || b.kind === 'readout'));
      const spec = plan.buffers[buffer]!;
      const perStep = batch * evaluateDim(spec.elements, sizes);
      reads.push({ buffer, offset: spec.lags * perStep, length: steps * perStep });
    }
    for (const state of plan.states) {
      const buffer = plan.buffers.findIndex((b) => b.kind === 'state' && b.name === state.name);
      const perStep = batch * tensorElements(state, sizes);
      reads.push({ buffer, offset: (state.lags + steps - 1) * perStep, length: perStep });
    }
    return { steps, batch, inputs, initialSlots, reads };
  }

  /**
   * Runs the cell over whole sequences. `x` is [T, B, ...input] (a cell with several inputs
   * takes a record by input name); a `onehot[V]` input takes its ids instead, [T, B] whole
   * numbers in [0, V) (Int32Array, Uint32Array or Float32Array), and rejects any other.
   * `initialState` gives states as [B, N] (or [lags, B, N] for cells reading further back
   * than t-1), defaulting to each state's declared initial value.
   */
  async forward(x: InputData | Partial<Record<Inputs, InputData>>, initialState?: Partial<Record<States, ArrayLike<number>>>, options: ForwardOptions = {}): Promise<ForwardResult<Outputs, States>> {
    const request = this.#request(x, initialState, options);
    const regions = await this.#executor.run(request);
    const { plan } = this;
    const { steps, batch } = request;
    const outputs = {} as Record<Outputs, Float32Array>;
    plan.outputs.forEach((o, i) => (outputs[o.name as Outputs] = options.lengths ? zeroPadding(regions[i]!, options.lengths, steps, batch) : regions[i]!));
    const states = {} as Record<States, Float32Array>;
    plan.states.forEach((s, i) => (states[s.name as States] = regions[plan.outputs.length + i]!));
    return { outputs, states, steps, batch };
  }

  #trainer(): Promise<Trainer> {
    const training = this.#training;
    if (!training) throw new Error(`cell ${this.plan.cell} was compiled without a loss: compile with --loss KIND[:OUTPUT] to train it`);
    training.trainer ??= Trainer.create(this as unknown as SeqModel, training.plans, training.options).then((t) => (training.ready = t));
    return training.trainer;
  }

  /**
   * One optimizer step: forward, loss, backward, clipping and update in one submit.
   * Returns the loss (mean over real steps and examples unless `reduction: 'sum'`).
   */
  async trainStep(batch: TrainingBatch): Promise<number> {
    return (await this.#trainer()).step(batch);
  }

  /** The moving average of the parameters kept by training (TrainerOptions.averageDecay), row-major. */
  async averagedParams(): Promise<Record<Params, Float32Array>> {
    return (await this.#trainer()).averagedParams() as Promise<Record<Params, Float32Array>>;
  }

  /** trainStep that also returns the loss's gradient with respect to each input, [T, B, ...], and if asked the initial states'. */
  async trainStepWithInputGradients(batch: TrainingBatch, options: { initialStates?: boolean } = {}): Promise<InputGradients> {
    return (await this.#trainer()).stepWithInputGradients(batch, options);
  }

  /** Gradients of the loss on a batch, for inspection; the parameters do not change. */
  async gradients(batch: TrainingBatch): Promise<Gradients> {
    return (await this.#trainer()).gradients(batch);
  }

  /** Stateful training starts the next window from the declared (or given) initial states. */
  resetState(): void {
    this.#training?.ready?.resetState();
  }

  /** The loss of the last trainStep (NaN before the first). */
  get loss(): number {
    return this.#training?.ready?.lastLoss ?? Number.NaN;
  }

  /** The parameters as a safetensors file (F32, row-major, the declared shapes). */
  async toSafetensors(): Promise<Uint8Array> {
    const params = await this.getParams();
    const tensors: Record<string, SafetensorsInput> = {};
    for (const name of this.paramNames) tensors[name] = { dtype: 'F32', shape: this.paramShape(name), data: params[name] };
    return encodeSafetensors(tensors, this.#metadata());
  }

  /** Writes the parameters to a safetensors file, atomically (Node; in a browser use toSafetensors). */
  async save(path: string): Promise<void> {
    const params = await this.getParams();
    const tensors: Record<string, SafetensorsInput> = {};
    for (const name of this.paramNames) tensors[name] = { dtype: 'F32', shape: this.paramShape(name), data: params[name] };
    await host().saveSafetensors(path, tensors, this.#metadata());
  }

  /**
   * Reads parameters from a safetensors file (a path in Node, or the file's bytes): every
   * parameter of the cell must be there as F32 with its shape; nothing else may be.
   */
  async load(file: string | Uint8Array): Promise<void> {
    const { tensors } = typeof file === 'string' ? await host().loadSafetensors(file) : decodeSafetensors(file);
    const where = typeof file === 'string' ? file : 'the given bytes';
    const known = new Set<string>(this.paramNames);
    const extra = Object.keys(tensors).filter((name) => !known.has(name));
    if (extra.length) throw new Error(`${where}: tensors ${extra.join(', ')} are not parameters of cell ${this.plan.cell} (${this.paramNames.join(', ')})`);
    const values: Partial<Record<Params, Float32Array>> = {};
    for (const name of this.paramNames) {
      const tensor = tensors[name];
      if (!tensor) throw new Error(`${where}: parameter ${name} is missing`);
      if (tensor.dtype !== 'F32') throw new Error(`${where}: parameter ${name} is ${tensor.dtype}; seqc stores F32`);
      const shape = this.paramShape(name);
      if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${where}: parameter ${name} has shape [${tensor.shape.join(', ')}], the cell has [${shape.join(', ')}] with sizes ${JSON.stringify(this.sizes)}`);
      }
      values[name] = tensor.data as Float32Array;
    }
    this.setParams(values);
  }

  #metadata(): Record<string, string> {
    return { format: 'seqc-params-1', cell: this.plan.cell, sizes: JSON.stringify(this.sizes) };
  }

  /** Device buffers held now: parameters, the forward workspace, and the trainer's if training. */
  get bufferCount(): number {
    return this.#disposed ? 0 : 1 + this.#executor.bufferCount + (this.#training?.ready?.bufferCount ?? 0);
  }

  /** Releases every device buffer of this model. The shared device stays for other models. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#training?.ready?.dispose();
    this.queue.close();
    this.#executor.dispose();
    releaseParamTexture(this.paramBuffer);
    releaseHalfParams(this.paramBuffer);
    this.paramBuffer.destroy();
  }
}

export function createModel<S extends string, P extends string, I extends string, O extends string, St extends string>(plan: LaunchPlan, options?: CreateOptions<S>, training?: TrainingPlans): Promise<SeqModel<S, P, I, O, St>> {
  return SeqModel.create<S, P, I, O, St>(plan, options, training);
}
