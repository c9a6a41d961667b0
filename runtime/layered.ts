/**
 * A model of layers over whole sequences, for what one step graph cannot hold: a layer whose
 * every step needs the layer below at every step, as a bidirectional layer's reverse half
 * does. Each layer is a compiled cell with one input and one output, run forward or
 * bidirectionally (runtime/bidirectional.ts's reversal within each length), reading the
 * layer below's outputs; a head cell with the loss sits on top (a per-step readout, e.g.
 * tag logits).
 *
 * The host chains the layers: a forward pass layer by layer, then a training step of each
 * cell from the top down, each layer trained on the gradient the layer above sends back to
 * its input, through a cotangent loss (sum of that gradient times the output, whose own
 * gradient is that gradient). Every cell's step is its own submit, with its own optimizer
 * state and gradient clipping.
 *
 * A cell compiled without lengths (one reading a state further back than t-1, whose ring of
 * past states cannot be held at padded steps) still runs with them: padding follows a
 * sequence's last step in either direction, so its outputs within the lengths are the same;
 * the host zeroes its outputs past them and masks its loss to them.
 */
import { joinRows, splitRows } from './bidirectional.js';
import { VALID_INPUT, reverseWithin, validMask, zeroPadding } from './lengths.js';
import { type CreateOptions, type SeqModel, createModel } from './model.js';
import { type InputData, type LaunchPlan, inputStride } from './plan.js';
import type { InputGradients, TrainerOptions, TrainingBatch, TrainingPlans } from './trainer.js';
import type { KernelTime } from './kernel-times.js';

/** What LayeredModel.profile gathers as forward walks the layers. */
interface Profiling {
  readonly repeats: number;
  readonly rows: { model: string; kernels: KernelTime[] }[];
}

export interface LayerSpec {
  /** the cell's forward plan, compiled with lengths (compiler/lengths.ts) where the cell allows */
  readonly plan: LaunchPlan;
  /** its training plans: a cotangent loss on its output for a layer, the model's loss for the head */
  readonly training: TrainingPlans;
  readonly sizes: Readonly<Record<string, number>>;
  readonly bidirectional?: boolean;
}

export interface LayeredOptions {
  readonly batch: number;
  /** parameters of cell k are drawn from seed + k */
  readonly seed?: number;
  readonly device?: GPUDevice;
  /** optimizer and clipping of every cell (each clips its own gradient) */
  readonly training?: Omit<TrainerOptions, 'stateful'>;
}

export interface LayeredBatch {
  /** [T, B, ...] for the first layer's input ([T, B] ids for a onehot input) */
  readonly x: InputData;
  /** [T, B, N] target of the head's output */
  readonly target: Float32Array;
  /** [B] steps of each sequence (default all T) */
  readonly lengths?: ArrayLike<number>;
  /**
   * [T, B]: the steps the head's loss counts (default every step within the lengths); a
   * many-to-one model marks each sequence's last step alone
   */
  readonly mask?: Float32Array;
  readonly learningRate?: number;
}

interface Layer {
  readonly models: readonly SeqModel[];
  readonly bidirectional: boolean;
}

const userInput = (model: SeqModel): string => model.plan.inputs.find((i) => !i.name.startsWith('__'))!.name;
const firstOutput = (model: SeqModel): string => model.plan.outputs[0]!.name;
const takesLengths = (model: SeqModel): boolean => model.plan.inputs.some((i) => i.name === VALID_INPUT);

/** What a training step or a gradient of one cell of the model gives back. */
type CellStep = (model: SeqModel, batch: TrainingBatch) => Promise<InputGradients>;

export interface LayeredGradients {
  /** the head's loss, as trainStep returns it */
  readonly loss: number;
  /** every model's parameter gradients, named as getParams names the parameters */
  readonly params: Record<string, Float32Array>;
}

export class LayeredModel {
  private constructor(readonly layers: readonly Layer[], readonly head: SeqModel, readonly batch: number) {}

  static async create(layers: readonly LayerSpec[], head: LayerSpec, options: LayeredOptions): Promise<LayeredModel> {
    let seed = options.seed ?? 0;
    let device = options.device;
    const training = { ...options.training, stateful: false };
    const create = async (spec: LayerSpec): Promise<SeqModel> => {
      const create: CreateOptions = { sizes: spec.sizes, batch: options.batch, seed: seed++, training, ...(device ? { device } : {}) };
      const model = await createModel(spec.plan, create, spec.training);
      device ??= model.device;
      return model;
    };
    const built: Layer[] = [];
    for (const spec of layers) {
      const models = [await create(spec)];
      if (spec.bidirectional) models.push(await create(spec));
      built.push({ models, bidirectional: spec.bidirectional ?? false });
    }
    return new LayeredModel(built, await create(head), options.batch);
  }

  /** Every model with the prefix of its parameters' names: `layer.direction.` and `head.`. */
  #named(): [string, SeqModel][] {
    const named: [string, SeqModel][] = [];
    for (const [l, layer] of this.layers.entries()) {
      for (const [d, model] of layer.models.entries()) named.push([`${l}.${d === 0 ? 'forward' : 'reverse'}.`, model]);
    }
    named.push(['head.', this.head]);
    return named;
  }

  /** Every model's parameters by `layer.direction.name` and `head.name`. */
  async getParams(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const [prefix, model] of this.#named()) {
      for (const [name, value] of Object.entries(await model.getParams())) out[`${prefix}${name}`] = value;
    }
    return out;
  }

  /** Sets parameters named as getParams names them; any subset. */
  setParams(values: Readonly<Record<string, ArrayLike<number>>>): void {
    const named = this.#named();
    for (const [key, data] of Object.entries(values)) {
      const owner = named.find(([prefix]) => key.startsWith(prefix));
      if (!owner) throw new Error(`no parameter ${key}: names are layer.forward.NAME, layer.reverse.NAME or head.NAME`);
      owner[1].setParam(key.slice(owner[0].length), data);
    }
  }

  /** One cell over whole sequences; outputs past the lengths are zero. */
  /** A cell's forward on its input; with `profile`, first where that forward's time goes on it. */
  async #cellForward(model: SeqModel, x: InputData, steps: number, lengths: ArrayLike<number> | undefined, profile?: Profiling, name?: string): Promise<Float32Array> {
    const own = lengths && takesLengths(model);
    const inputs = { [userInput(model)]: x };
    if (profile) profile.rows.push({ model: name!, kernels: await model.profile(inputs, undefined, { ...(own ? { lengths } : {}), repeats: profile.repeats }) });
    const out = (await model.forward(inputs, undefined, own ? { lengths } : {})).outputs[firstOutput(model)]!;
    return lengths && !own ? zeroPadding(out, lengths, steps, this.batch) : out;
  }

  /** One layer over whole sequences: its outputs [T, B, N] (bidirectional: [T, B, 2N]). */
  async #layerForward(layer: Layer, x: InputData, steps: number, lengths: ArrayLike<number> | undefined, profile?: Profiling, index?: number): Promise<Float32Array> {
    const [forward, reverse] = layer.models;
    const f = await this.#cellForward(forward!, x, steps, lengths, profile, `${index}.forward`);
    if (!reverse) return f;
    const r = await this.#cellForward(reverse, reverseWithin(x, lengths, steps, this.batch), steps, lengths, profile, `${index}.reverse`);
    return joinRows(f, reverseWithin(r, lengths, steps, this.batch), steps * this.batch);
  }

  /** Every layer, then the head: the head's first output, [T, B, N]. */
  async forward(x: InputData, lengths?: ArrayLike<number>): Promise<Float32Array> {
    return this.#forward(x, lengths);
  }

  async #forward(x: InputData, lengths: ArrayLike<number> | undefined, profile?: Profiling): Promise<Float32Array> {
    const steps = this.#stepsOf(x);
    let current: InputData = x;
    for (const [index, layer] of this.layers.entries()) current = await this.#layerForward(layer, current, steps, lengths, profile, index);
    return this.#cellForward(this.head, current, steps, lengths, profile, 'head');
  }

  /**
   * Where forward's time goes: each layer's cell (each direction) and the head, in forward's
   * order, profiled on the input forward gives it (SeqModel.profile: the whole forward of that
   * cell, then each of its kernels alone), named as the parameters are (`0.forward`, `head`).
   */
  async profile(x: InputData, lengths?: ArrayLike<number>, repeats = 3): Promise<{ readonly model: string; readonly kernels: KernelTime[] }[]> {
    const profile: Profiling = { repeats, rows: [] };
    await this.#forward(x, lengths, profile);
    return profile.rows;
  }

  /** Steps of a first-layer input: its length over the batch and the per-step width. */
  #stepsOf(x: InputData): number {
    const first = this.layers[0]?.models[0] ?? this.head;
    const input = first.plan.inputs.find((i) => !i.name.startsWith('__'))!;
    const width = inputStride(input, first.sizes);
    const steps = x.length / (this.batch * width);
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`input has ${x.length} elements, not a whole number of steps of batch ${this.batch} x ${width}`);
    return steps;
  }

  /**
   * One training step: forward through the layers, the head's step on the loss, then each
   * layer's step on the gradient sent to its output, top down. Returns the head's loss (mean
   * over real steps and examples).
   */
  async trainStep(batch: LayeredBatch): Promise<number> {
    return this.#backward(batch, (model, b) => model.trainStepWithInputGradients(b));
  }

  /**
   * The gradient of the head's loss (as trainStep computes it) with respect to every
   * parameter of every cell, without changing them.
   */
  async gradients(batch: LayeredBatch): Promise<LayeredGradients> {
    const gradients = new Map<SeqModel, Record<string, Float32Array>>();
    const loss = await this.#backward(batch, async (model, b) => {
      const g = await model.gradients(b);
      gradients.set(model, g.params);
      return g;
    });
    const params: Record<string, Float32Array> = {};
    for (const [prefix, model] of this.#named()) {
      for (const [name, value] of Object.entries(gradients.get(model) ?? {})) params[`${prefix}${name}`] = value;
    }
    return { loss, params };
  }

  /** Forward through the layers, then `step` on each cell from the head down; the head's loss. */
  async #backward(batch: LayeredBatch, step: CellStep): Promise<number> {
    const { x, lengths, learningRate } = batch;
    const steps = this.#stepsOf(x);
    const rows = steps * this.batch;
    const inputs: InputData[] = [x];
    for (const layer of this.layers) inputs.push(await this.#layerForward(layer, inputs[inputs.length - 1]!, steps, lengths));
    const valid = lengths ? validMask(lengths, steps, this.batch) : undefined;
    // a cell compiled without lengths is told them as a mask: the steps its loss counts
    const common = (model: SeqModel, mask?: Float32Array) => {
      const own = takesLengths(model);
      const counted = mask ?? (own ? undefined : valid);
      return { ...(lengths && own ? { lengths } : {}), ...(counted ? { mask: counted } : {}), ...(learningRate === undefined ? {} : { learningRate }) };
    };
    const top = await step(this.head, { inputs: { [userInput(this.head)]: inputs[inputs.length - 1]! }, target: batch.target, ...common(this.head, batch.mask) });
    let gradient = top.inputs[userInput(this.head)]!;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const input = inputs[l]!;
      const [forward, reverse] = layer.models;
      // the cotangent loss is summed: the gradient from above already carries the head's mean
      const cell = async (model: SeqModel, x: InputData, cotangent: Float32Array) => {
        const name = userInput(model);
        return (await step(model, { inputs: { [name]: x }, target: cotangent, reduction: 'sum', ...common(model) })).inputs[name];
      };
      if (!reverse) {
        const below = await cell(forward!, input, gradient);
        if (!below) break; // ids have no gradient: the first layer is the last to train
        gradient = below;
        continue;
      }
      const [gf, gr] = splitRows(gradient, rows, gradient.length / rows / 2);
      const df = await cell(forward!, input, gf);
      const dr = await cell(reverse, reverseWithin(input, lengths, steps, this.batch), reverseWithin(gr, lengths, steps, this.batch));
      if (!df || !dr) break; // ids have no gradient: the first layer is the last to train
      const back = reverseWithin(dr, lengths, steps, this.batch);
      gradient = df.map((v, i) => v + back[i]!);
    }
    return top.loss;
  }

  get bufferCount(): number {
    return this.layers.reduce((n, l) => n + l.models.reduce((m, model) => m + model.bufferCount, 0), this.head.bufferCount);
  }

  dispose(): void {
    for (const layer of this.layers) for (const model of layer.models) model.dispose();
    this.head.dispose();
  }
}
