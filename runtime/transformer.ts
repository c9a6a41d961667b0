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
import { type ChainOptions, type ChainStep, type ChainedCell, type SequencePairBatch, chainCreator, chainGradients } from './chain.js';
import { type CotangentStep, EncoderStack, inputsOf, runCell } from './encoder-stack.js';
import { causalSteps, memoryGradient, memoryPerStep, validSteps } from './memory.js';
import type { SeqModel } from './model.js';
import { type InputData, evaluateDim } from './plan.js';

export { sinusoidalPositions } from './encoder-stack.js';

export interface TransformerParts {
  readonly sourceEmbedding: ChainedCell;
  readonly targetEmbedding: ChainedCell;
  readonly encoder: readonly ChainedCell[];
  readonly decoder: readonly ChainedCell[];
  readonly readout: ChainedCell;
}

export type TransformerOptions = ChainOptions;

export type TransformerBatch = SequencePairBatch;

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
  readonly #encoder: EncoderStack;

  private constructor(readonly sourceEmbedding: SeqModel, readonly targetEmbedding: SeqModel, readonly encoder: readonly SeqModel[], readonly decoder: readonly SeqModel[], readonly readout: SeqModel, readonly batch: number) {
    this.#encoder = new EncoderStack(sourceEmbedding, encoder, batch);
    this.#S = this.#encoder.positions;
    this.#D = this.#encoder.width;
    const own = decoder[0]!.plan.inputs.filter((i) => i.shape.length === 2)[0]!;
    this.#P = evaluateDim(own.shape[0]!, decoder[0]!.sizes);
    for (const layer of decoder) if (inputsOf(layer).memories.length !== 2 || inputsOf(layer).masks.length !== 2) throw new Error(`decoder layer ${layer.plan.cell} must read its own positions and the encoder's ([P, D], mask[P], [S, D], mask[S], in that order)`);
  }

  static async create(parts: TransformerParts, options: TransformerOptions): Promise<Transformer> {
    const create = chainCreator(options);
    const sourceEmbedding = await create(parts.sourceEmbedding);
    const targetEmbedding = await create(parts.targetEmbedding);
    const encoder: SeqModel[] = [];
    for (const part of parts.encoder) encoder.push(await create(part));
    const decoder: SeqModel[] = [];
    for (const part of parts.decoder) decoder.push(await create(part));
    return new Transformer(sourceEmbedding, targetEmbedding, encoder, decoder, await create(parts.readout), options.batch);
  }

  /** Every cell forward, keeping each one's inputs. */
  async #forward(batch: Pick<TransformerBatch, 'source' | 'sourceLengths' | 'previous'>): Promise<Activations> {
    return this.#decode(await this.#encode(batch.source, batch.sourceLengths), batch.previous);
  }

  /** The source embedding and the encoder layers: their inputs, and the top layer as the decoder's memory. */
  async #encode(source: InputData, lengths: ArrayLike<number> | undefined): Promise<Encoded> {
    const [B, S, P, D] = [this.batch, this.#S, this.#P, this.#D];
    const { embedding, layers, top } = await this.#encoder.encode(source, lengths);
    return { sourceEmbedding: embedding, encoder: layers, memory: memoryPerStep(top, S, B, D, P), visible: validSteps(lengths, S, B, P) };
  }

  /** The target embedding, the decoder layers and the readout over the encoded source. */
  async #decode(encoded: Encoded, previous: InputData): Promise<Activations> {
    const [B, P, D] = [this.batch, this.#P, this.#D];
    if (previous.length !== P * B) throw new Error(`the decoder input has ${previous.length / B} positions (of batch ${B}); the decoder reads ${P}: pad it to that`);
    const causal = causalSteps(P, B);
    const targetEmbedding = this.#encoder.embeddingInputs(this.targetEmbedding, previous, P);
    let current = await runCell(this.targetEmbedding, targetEmbedding);
    const decoder: Record<string, InputData>[] = [];
    for (const layer of this.decoder) {
      const { vectors, memories, masks } = inputsOf(layer);
      const inputs = { [vectors[0]!]: current, [memories[0]!]: memoryPerStep(current, P, B, D, P), [masks[0]!]: causal, [memories[1]!]: encoded.memory, [masks[1]!]: encoded.visible };
      decoder.push(inputs);
      current = await runCell(layer, inputs);
    }
    const readout = { [inputsOf(this.readout).vectors[0]!]: current };
    return { sourceEmbedding: encoded.sourceEmbedding, targetEmbedding, encoder: encoded.encoder, decoder, readout, logits: await runCell(this.readout, readout) };
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
  gradients(batch: TransformerBatch): Promise<{ loss: number; params: Record<string, Float32Array>[] }> {
    return chainGradients(this.#models(), (step) => this.#backward(batch, step));
  }

  async #backward(batch: TransformerBatch, run: ChainStep): Promise<{ loss: number }> {
    const [B, S, P, D] = [this.batch, this.#S, this.#P, this.#D];
    const saved = await this.#forward(batch);
    const rate = batch.learningRate === undefined ? {} : { learningRate: batch.learningRate };
    const step: CotangentStep = (model, inputs, cotangent) => run(model, { inputs, target: cotangent, reduction: 'sum', ...rate });
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
    await this.#encoder.backward({ embedding: saved.sourceEmbedding, layers: saved.encoder }, encodedGradient, step);
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
