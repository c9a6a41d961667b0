/**
 * An encoder-decoder of two compiled cells (examples/seq2seq.seq): the encoder reads the
 * source, of S steps, and returns per step one output, its memory row; the decoder runs
 * T steps, its state starting from the encoder's final state, and at every step reads the
 * whole memory, a [S, M] input (S source steps: attention), with a 0/1 `mask[S]` input of the
 * valid source steps, and the previous target token (teacher forcing in training).
 *
 * The host chains them as LayeredModel chains layers: the decoder trains on the loss and
 * sends back the gradient of its memory at every step and of its initial state; the
 * memory's is summed over the decoder's steps (the memory is the same at each), the initial
 * state's joins it at each source's last step (where the encoder's output begins with its
 * final state), and the encoder trains on that through a cotangent loss.
 */
import { memoryGradient, memoryPerStep, validSteps } from './memory.js';
import type { SeqModel } from './model.js';
import { type InputData, evaluateDim, tensorElements } from './plan.js';
import { type ChainOptions, type ChainedCell, type SequencePairBatch, chainCreator } from './chain.js';
import type { InputGradients } from './trainer.js';

/** The encoder's plan is compiled with lengths (compiler/lengths.ts), so its final state is each source's last. */
export type Seq2SeqPart = ChainedCell;
export type Seq2SeqOptions = ChainOptions;

export type Seq2SeqBatch = SequencePairBatch;

/** The inputs of the decoder by role: the previous token, the memory and its mask. */
interface DecoderInputs {
  readonly token: string;
  readonly memory: string;
  readonly valid: string;
}

function decoderInputs(decoder: SeqModel): DecoderInputs {
  const inputs = decoder.plan.inputs.filter((i) => !i.name.startsWith('__'));
  const token = inputs.find((i) => i.onehot);
  const memory = inputs.find((i) => i.shape.length === 2 && !i.binary);
  const valid = inputs.find((i) => i.binary);
  if (!token || !memory || !valid || inputs.length !== 3) {
    throw new Error(`decoder ${decoder.plan.cell} must take three inputs: the previous token (onehot[V]), the memory ([S, M]) and its valid steps (mask[S]); it takes ${inputs.map((i) => `${i.name} ${i.shapeText}`).join(', ')}`);
  }
  return { token: token.name, memory: memory.name, valid: valid.name };
}

export class Seq2Seq {
  readonly #inputs: DecoderInputs;
  readonly #memoryWidth: number;
  readonly #memorySteps: number;
  readonly #state: string;
  readonly #stateWidth: number;

  private constructor(readonly encoder: SeqModel, readonly decoder: SeqModel, readonly batch: number) {
    this.#inputs = decoderInputs(decoder);
    const memory = decoder.plan.inputs.find((i) => i.name === this.#inputs.memory)!;
    [this.#memorySteps, this.#memoryWidth] = memory.shape.map((d) => evaluateDim(d, decoder.sizes)) as [number, number];
    const state = decoder.plan.states[0];
    if (!state || decoder.plan.states.length !== 1) throw new Error(`decoder ${decoder.plan.cell} must have one state, which starts from the encoder's final state`);
    this.#state = state.name;
    this.#stateWidth = tensorElements(state, decoder.sizes);
    const out = encoder.plan.outputs[0]!;
    const outWidth = tensorElements(out, encoder.sizes);
    if (outWidth !== this.#memoryWidth) throw new Error(`encoder ${encoder.plan.cell}'s output ${out.name} has ${outWidth} elements per step, but decoder ${decoder.plan.cell}'s memory rows have ${this.#memoryWidth}`);
    if (this.#stateWidth > outWidth) throw new Error(`decoder state ${state.name} (${this.#stateWidth} elements) is wider than the encoder's output (${outWidth}), which must begin with the encoder's state`);
  }

  static async create(encoder: Seq2SeqPart, decoder: Seq2SeqPart, options: Seq2SeqOptions): Promise<Seq2Seq> {
    const create = chainCreator(options);
    const enc = await create(encoder);
    return new Seq2Seq(enc, await create(decoder), options.batch);
  }

  /** Source steps of a batch, checked against the memory's S. */
  #sourceSteps(source: InputData): number {
    const steps = source.length / this.batch;
    if (steps !== this.#memorySteps) throw new Error(`the source has ${steps} steps (of batch ${this.batch}); the decoder's memory holds ${this.#memorySteps}: pad every source to that`);
    return steps;
  }

  /** The encoder over the sources: its memory rows [S, B, M] and final states [B, H]. */
  async #encode(source: InputData, lengths: ArrayLike<number> | undefined) {
    const r = await this.encoder.forward(source, undefined, lengths ? { lengths } : {});
    const memory = r.outputs[this.encoder.plan.outputs[0]!.name]!;
    return { memory, final: this.#finalRows(memory, lengths) };
  }

  /** Each example's memory row at its last valid step, its first H elements: the encoder's final state. */
  #finalRows(memory: Float32Array, lengths: ArrayLike<number> | undefined): Float32Array {
    const B = this.batch;
    const M = this.#memoryWidth;
    const out = new Float32Array(B * this.#stateWidth);
    for (let b = 0; b < B; b++) {
      const last = (lengths ? lengths[b]! : this.#memorySteps) - 1;
      out.set(memory.subarray((last * B + b) * M, (last * B + b) * M + this.#stateWidth), b * this.#stateWidth);
    }
    return out;
  }

  /** The encoder's cotangent [S, B, M]: the memory's gradient summed over decoder steps, plus the initial state's at the last source step. */
  #encoderCotangent(perStep: Float32Array, stateGradient: Float32Array, lengths: ArrayLike<number> | undefined, steps: number): Float32Array {
    const [B, S, M] = [this.batch, this.#memorySteps, this.#memoryWidth];
    const out = memoryGradient(perStep, S, B, M, steps);
    for (let b = 0; b < B; b++) {
      const last = (lengths ? lengths[b]! : S) - 1;
      for (let h = 0; h < this.#stateWidth; h++) out[(last * B + b) * M + h]! += stateGradient[b * this.#stateWidth + h]!;
    }
    return out;
  }

  /** The decoder's memory inputs for `steps` steps: the rows at every step, and the valid source steps. */
  #decoderMemory(memory: Float32Array, lengths: ArrayLike<number> | undefined, steps: number) {
    const [B, S, M] = [this.batch, this.#memorySteps, this.#memoryWidth];
    return { memory: memoryPerStep(memory, S, B, M, steps), valid: validSteps(lengths, S, B, steps) };
  }

  /** The decoder's inputs and initial state for a batch, from the encoder's forward. */
  async #decoderBatch(batch: Seq2SeqBatch) {
    this.#sourceSteps(batch.source);
    const lengths = batch.sourceLengths;
    const steps = batch.previous.length / this.batch;
    const { memory, final } = await this.#encode(batch.source, lengths);
    const inputs = this.#decoderMemory(memory, lengths, steps);
    return {
      steps,
      decoder: {
        inputs: { [this.#inputs.token]: batch.previous, [this.#inputs.memory]: inputs.memory, [this.#inputs.valid]: inputs.valid },
        target: batch.target,
        initialState: { [this.#state]: final },
        ...(batch.mask ? { mask: batch.mask } : {}),
        ...(batch.learningRate === undefined ? {} : { learningRate: batch.learningRate }),
      },
    };
  }

  /** The encoder's batch: its source, and as target the cotangent of what the decoder sent back. */
  #encoderBatch(batch: Seq2SeqBatch, sent: InputGradients, steps: number) {
    const lengths = batch.sourceLengths;
    const cotangent = this.#encoderCotangent(sent.inputs[this.#inputs.memory]!, sent.initialStates[this.#state]!, lengths, steps);
    // summed: the decoder's gradient already carries its mean
    return { x: batch.source, target: cotangent, reduction: 'sum' as const, ...(lengths ? { lengths } : {}), ...(batch.learningRate === undefined ? {} : { learningRate: batch.learningRate }) };
  }

  /** One training step of both cells; returns the decoder's loss (mean over the counted steps). */
  async trainStep(batch: Seq2SeqBatch): Promise<number> {
    const { steps, decoder } = await this.#decoderBatch(batch);
    const top = await this.decoder.trainStepWithInputGradients(decoder, { initialStates: true });
    await this.encoder.trainStepWithInputGradients(this.#encoderBatch(batch, top, steps));
    return top.loss;
  }

  /** The loss and both cells' parameter gradients on a batch, for inspection; nothing changes. */
  async gradients(batch: Seq2SeqBatch): Promise<{ loss: number; encoder: Record<string, Float32Array>; decoder: Record<string, Float32Array> }> {
    const { steps, decoder } = await this.#decoderBatch(batch);
    const top = await this.decoder.gradients(decoder);
    const below = await this.encoder.gradients(this.#encoderBatch(batch, top, steps));
    return { loss: top.loss, encoder: below.params, decoder: top.params };
  }

  /**
   * Greedy decoding: from the start token, each step's most probable token is the next
   * step's input, for `maxSteps` steps or until every example has produced `end`. Returns
   * [B] token lists (without the start token, up to and without `end`) and the attention
   * weights, the decoder's `alignment` output per step if it has one ([steps][B * S]).
   */
  async greedy(source: InputData, options: { start: number; end: number; maxSteps: number; sourceLengths?: ArrayLike<number>; alignment?: string }): Promise<{ tokens: number[][]; alignment: Float32Array[] }> {
    this.#sourceSteps(source);
    const lengths = options.sourceLengths;
    const B = this.batch;
    const { memory, final } = await this.#encode(source, lengths);
    const inputs = this.#decoderMemory(memory, lengths, 1);
    const logitsName = this.decoder.plan.outputs[0]!.name;
    let state: Record<string, Float32Array> = { [this.#state]: final };
    let previous = new Int32Array(B).fill(options.start);
    const tokens: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    const alignment: Float32Array[] = [];
    for (let t = 0; t < options.maxSteps && done.some((d) => !d); t++) {
      const r = await this.decoder.forward({ [this.#inputs.token]: previous, [this.#inputs.memory]: inputs.memory, [this.#inputs.valid]: inputs.valid }, state);
      state = r.states as Record<string, Float32Array>;
      if (options.alignment) alignment.push(r.outputs[options.alignment]!);
      const logits = r.outputs[logitsName]!;
      const V = logits.length / B;
      previous = Int32Array.from({ length: B }, (_, b) => {
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[b * V + v]! > logits[b * V + best]!) best = v;
        return best;
      });
      previous.forEach((token, b) => {
        if (done[b]) return;
        if (token === options.end) done[b] = true;
        else tokens[b]!.push(token);
      });
    }
    return { tokens, alignment };
  }

  get bufferCount(): number {
    return this.encoder.bufferCount + this.decoder.bufferCount;
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}
