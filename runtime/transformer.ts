/**
 * A transformer encoder-decoder of compiled cells (examples/transformer.seq), position by
 * position: every cell's steps are positions, and a layer reads the layer below at all
 * positions as a memory ([S, D] at every step, runtime/memory.ts). The cells:
 *
 * - source and target embeddings, (token: onehot[V], pos: [D]) -> [D], pos the sinusoidal
 *   encoding the host fills;
 * - encoder layers, (x: [D], X: [S, D], visible: mask[S]) -> [D]: X the layer below, masked
 *   to each source's valid positions;
 * - decoder layers, (x: [D], Y: [P, D], causal: mask[P], X: [S, D], visible: mask[S]) -> [D]:
 *   Y the decoder layer below, seen up to each position, X the encoder's top layer;
 * - a readout to logits, trained with softmax cross-entropy.
 *
 * Training chains the cells on the host from the top down, as LayeredModel does: each
 * cell's step on the gradient its output receives (a cotangent loss), sending back the
 * gradient of its input at each position plus that of its memory summed over the positions
 * that read it.
 */
import { causalSteps, memoryGradient, memoryPerStep, validSteps } from './memory.js';
import { type CreateOptions, type SeqModel, createModel } from './model.js';
import { type InputData, evaluateDim } from './plan.js';
import type { ChainOptions, ChainedCell, SequencePairBatch } from './chain.js';
import type { TrainingBatch } from './trainer.js';

export interface TransformerParts {
  readonly sourceEmbedding: ChainedCell;
  readonly targetEmbedding: ChainedCell;
  readonly encoder: readonly ChainedCell[];
  readonly decoder: readonly ChainedCell[];
  readonly readout: ChainedCell;
}

export type TransformerOptions = ChainOptions;

export type TransformerBatch = SequencePairBatch;

/** Sinusoidal position encodings [T, B, D]: sin(t / 10000^(2i/D)) at 2i, cos at 2i + 1. */
export function sinusoidalPositions(T: number, B: number, D: number): Float32Array {
  const out = new Float32Array(T * B * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      const angle = t / 10000 ** ((2 * Math.floor(i / 2)) / D);
      const value = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      for (let b = 0; b < B; b++) out[(t * B + b) * D + i] = value;
    }
  }
  return out;
}

/** A cell's user inputs by kind: onehot, dense vectors, matrices (memories) and masks, in declaration order. */
function inputsOf(model: SeqModel) {
  const inputs = model.plan.inputs.filter((i) => !i.name.startsWith('__'));
  return {
    onehot: inputs.filter((i) => i.onehot).map((i) => i.name),
    vectors: inputs.filter((i) => !i.onehot && !i.binary && i.shape.length === 1).map((i) => i.name),
    memories: inputs.filter((i) => i.shape.length === 2).map((i) => i.name),
    masks: inputs.filter((i) => i.binary).map((i) => i.name),
  };
}

const outputOf = (model: SeqModel): string => model.plan.outputs[0]!.name;

/** What the encoder's forward keeps: its cells' inputs, and its top layer as the decoder reads it. */
interface Encoded {
  readonly sourceEmbedding: Record<string, InputData>;
  readonly encoder: Record<string, InputData>[];
  /** [P, B, S, D]: the top layer at every decoder position, and [P, B, S] its valid positions */
  readonly memory: Float32Array;
  readonly visible: Float32Array;
}

/** What the forward keeps for the backward: every cell's inputs. */
interface Activations {
  readonly sourceEmbedding: Record<string, InputData>;
  readonly targetEmbedding: Record<string, InputData>;
  readonly encoder: Record<string, InputData>[];
  readonly decoder: Record<string, InputData>[];
  readonly readout: Record<string, InputData>;
  readonly logits: Float32Array;
}

export class Transformer {
  readonly #S: number;
  readonly #P: number;
  readonly #D: number;

  private constructor(readonly sourceEmbedding: SeqModel, readonly targetEmbedding: SeqModel, readonly encoder: readonly SeqModel[], readonly decoder: readonly SeqModel[], readonly readout: SeqModel, readonly batch: number) {
    const first = (encoder[0] ?? decoder[0])!;
    const memory = first.plan.inputs.find((i) => i.shape.length === 2)!;
    this.#D = evaluateDim(memory.shape[1]!, first.sizes);
    this.#S = evaluateDim(encoder[0]!.plan.inputs.find((i) => i.shape.length === 2)!.shape[0]!, encoder[0]!.sizes);
    const own = decoder[0]!.plan.inputs.filter((i) => i.shape.length === 2)[0]!;
    this.#P = evaluateDim(own.shape[0]!, decoder[0]!.sizes);
    for (const layer of encoder) if (inputsOf(layer).memories.length !== 1 || inputsOf(layer).masks.length !== 1) throw new Error(`encoder layer ${layer.plan.cell} must read one memory ([S, D]) and one mask[S]`);
    for (const layer of decoder) if (inputsOf(layer).memories.length !== 2 || inputsOf(layer).masks.length !== 2) throw new Error(`decoder layer ${layer.plan.cell} must read its own positions and the encoder's ([P, D], mask[P], [S, D], mask[S], in that order)`);
  }

  static async create(parts: TransformerParts, options: TransformerOptions): Promise<Transformer> {
    let seed = options.seed ?? 0;
    let device = options.device;
    const training = { ...options.training, stateful: false };
    const create = async (part: ChainedCell): Promise<SeqModel> => {
      const create: CreateOptions = { sizes: part.sizes, batch: options.batch, seed: seed++, training, ...(device ? { device } : {}) };
      const model = await createModel(part.plan, create, part.training);
      device ??= model.device;
      return model;
    };
    const sourceEmbedding = await create(parts.sourceEmbedding);
    const targetEmbedding = await create(parts.targetEmbedding);
    const encoder: SeqModel[] = [];
    for (const part of parts.encoder) encoder.push(await create(part));
    const decoder: SeqModel[] = [];
    for (const part of parts.decoder) decoder.push(await create(part));
    return new Transformer(sourceEmbedding, targetEmbedding, encoder, decoder, await create(parts.readout), options.batch);
  }

  #embeddingInputs(model: SeqModel, ids: InputData, steps: number): Record<string, InputData> {
    const { onehot, vectors } = inputsOf(model);
    return { [onehot[0]!]: ids, [vectors[0]!]: sinusoidalPositions(steps, this.batch, this.#D) };
  }

  async #run(model: SeqModel, inputs: Record<string, InputData>): Promise<Float32Array> {
    return (await model.forward(inputs)).outputs[outputOf(model)]!;
  }

  /** Every cell forward, keeping each one's inputs. */
  async #forward(batch: Pick<TransformerBatch, 'source' | 'sourceLengths' | 'previous'>): Promise<Activations> {
    return this.#decode(await this.#encode(batch.source, batch.sourceLengths), batch.previous);
  }

  /** The source embedding and the encoder layers: their inputs, and the top layer as the decoder's memory. */
  async #encode(source: InputData, lengths: ArrayLike<number> | undefined): Promise<Encoded> {
    const [B, S, P, D] = [this.batch, this.#S, this.#P, this.#D];
    if (source.length !== S * B) throw new Error(`the source has ${source.length / B} positions (of batch ${B}); the encoder reads ${S}: pad every source to that`);
    const sourceEmbedding = this.#embeddingInputs(this.sourceEmbedding, source, S);
    let below = await this.#run(this.sourceEmbedding, sourceEmbedding);
    const visible = validSteps(lengths, S, B, S);
    const encoder: Record<string, InputData>[] = [];
    for (const layer of this.encoder) {
      const { vectors, memories, masks } = inputsOf(layer);
      const inputs = { [vectors[0]!]: below, [memories[0]!]: memoryPerStep(below, S, B, D, S), [masks[0]!]: visible };
      encoder.push(inputs);
      below = await this.#run(layer, inputs);
    }
    return { sourceEmbedding, encoder, memory: memoryPerStep(below, S, B, D, P), visible: validSteps(lengths, S, B, P) };
  }

  /** The target embedding, the decoder layers and the readout over the encoded source. */
  async #decode(encoded: Encoded, previous: InputData): Promise<Activations> {
    const [B, P, D] = [this.batch, this.#P, this.#D];
    if (previous.length !== P * B) throw new Error(`the decoder input has ${previous.length / B} positions (of batch ${B}); the decoder reads ${P}: pad it to that`);
    const causal = causalSteps(P, B);
    const targetEmbedding = this.#embeddingInputs(this.targetEmbedding, previous, P);
    let current = await this.#run(this.targetEmbedding, targetEmbedding);
    const decoder: Record<string, InputData>[] = [];
    for (const layer of this.decoder) {
      const { vectors, memories, masks } = inputsOf(layer);
      const inputs = { [vectors[0]!]: current, [memories[0]!]: memoryPerStep(current, P, B, D, P), [masks[0]!]: causal, [memories[1]!]: encoded.memory, [masks[1]!]: encoded.visible };
      decoder.push(inputs);
      current = await this.#run(layer, inputs);
    }
    const readout = { [inputsOf(this.readout).vectors[0]!]: current };
    return { sourceEmbedding: encoded.sourceEmbedding, targetEmbedding, encoder: encoded.encoder, decoder, readout, logits: await this.#run(this.readout, readout) };
  }

  /** Logits [P, B, V] of the decoder's positions. */
  async forward(batch: Pick<TransformerBatch, 'source' | 'sourceLengths' | 'previous'>): Promise<Float32Array> {
    return (await this.#forward(batch)).logits;
  }

  /**
   * One training step of every cell, from the readout down; returns the readout's loss. A
   * cell's step on the gradient of its output returns the gradient of its inputs: its own
   * position's, and its memories' summed over the positions that read them.
   */
  async trainStep(batch: TransformerBatch): Promise<number> {
    return (await this.#backward(batch, (model, b) => model.trainStepWithInputGradients(b))).loss;
  }

  /** The loss and every cell's parameter gradients ([cell index] in create order), for inspection; nothing changes. */
  async gradients(batch: TransformerBatch): Promise<{ loss: number; params: Record<string, Float32Array>[] }> {
    const params = new Map<SeqModel, Record<string, Float32Array>>();
    const { loss } = await this.#backward(batch, async (model, b) => {
      const g = await model.gradients(b);
      params.set(model, g.params);
      return g;
    });
    return { loss, params: this.#models().map((m) => params.get(m)!) };
  }

  async #backward(batch: TransformerBatch, run: (model: SeqModel, batch: TrainingBatch) => Promise<{ loss: number; inputs: Record<string, Float32Array> }>): Promise<{ loss: number }> {
    const [B, S, P, D] = [this.batch, this.#S, this.#P, this.#D];
    const saved = await this.#forward(batch);
    const rate = batch.learningRate === undefined ? {} : { learningRate: batch.learningRate };
    const step = (model: SeqModel, inputs: Record<string, InputData>, cotangent: Float32Array) => run(model, { inputs, target: cotangent, reduction: 'sum', ...rate });
    const top = await run(this.readout, { inputs: saved.readout, target: batch.target, ...(batch.mask ? { mask: batch.mask } : {}), ...rate });
    let gradient = top.inputs[inputsOf(this.readout).vectors[0]!]!;
    const encodedGradient = new Float32Array(S * B * D);
    for (let l = this.decoder.length - 1; l >= 0; l--) {
      const layer = this.decoder[l]!;
      const { vectors, memories } = inputsOf(layer);
      const sent = (await step(layer, saved.decoder[l]!, gradient)).inputs;
      memoryGradient(sent[memories[1]!]!, S, B, D, P, encodedGradient);
      gradient = memoryGradient(sent[memories[0]!]!, P, B, D, P, Float32Array.from(sent[vectors[0]!]!));
    }
    await step(this.targetEmbedding, saved.targetEmbedding, gradient);
    gradient = encodedGradient;
    for (let l = this.encoder.length - 1; l >= 0; l--) {
      const layer = this.encoder[l]!;
      const { vectors, memories } = inputsOf(layer);
      const sent = (await step(layer, saved.encoder[l]!, gradient)).inputs;
      gradient = memoryGradient(sent[memories[0]!]!, S, B, D, S, Float32Array.from(sent[vectors[0]!]!));
    }
    await step(this.sourceEmbedding, saved.sourceEmbedding, gradient);
    return { loss: top.loss };
  }

  /**
   * Greedy decoding: position by position, the decoder runs on the tokens chosen so far (the
   * causal masks keep later positions from mattering) and the most probable token at the
   * new position is the next one; stops at `end` for every example or after P positions.
   */
  async greedy(source: InputData, options: { start: number; end: number; sourceLengths?: ArrayLike<number>; pad?: number }): Promise<number[][]> {
    const [B, P] = [this.batch, this.#P];
    const previous = new Int32Array(P * B).fill(options.pad ?? 0);
    previous.fill(options.start, 0, B);
    const tokens: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    // the source is encoded once; each new position runs the decoder again
    const encoded = await this.#encode(source, options.sourceLengths);
    for (let t = 0; t < P && done.some((d) => !d); t++) {
      const { logits } = await this.#decode(encoded, previous);
      const V = logits.length / (P * B);
      for (let b = 0; b < B; b++) {
        const row = logits.subarray((t * B + b) * V, (t * B + b + 1) * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
        if (t + 1 < P) previous[(t + 1) * B + b] = best;
        if (done[b]) continue;
        if (best === options.end) done[b] = true;
        else tokens[b]!.push(best);
      }
    }
    return tokens;
  }

  #models(): SeqModel[] {
    return [this.sourceEmbedding, this.targetEmbedding, ...this.encoder, ...this.decoder, this.readout];
  }

  get bufferCount(): number {
    return this.#models().reduce((n, m) => n + m.bufferCount, 0);
  }

  dispose(): void {
    for (const model of this.#models()) model.dispose();
  }
}
